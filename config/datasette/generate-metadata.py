#!/usr/bin/env python3
"""Generates config/datasette/metadata.json from docs/auditing.md, the one place the schema is described.

    python3 config/datasette/generate-metadata.py            rewrites metadata.json
    python3 config/datasette/generate-metadata.py --check    exits 1 (with a diff) if metadata.json is out of date

What comes from docs/auditing.md:
  - each table's description, from the table of "## The schema in plain words" ("one row per", then the notes);
    a `name`: text note naming another table or a column describes that table or column;
  - audit_events' description and columns, from "## The audit log";
  - each view's description and columns, from its "### `view`" section of "## The views" ("as in `view`" is
    resolved to that view's text); the columns of the tables behind the views (grants, devices,
    revocation_requests) reuse the text of the view column they become;
  - one canned query per "### question" of "## Example questions": the heading is its title, the text under it
    its description, the ```sql block its SQL. A literal compared with a name column (partner_name, tenant_name,
    serial_number, actor_account) becomes a named parameter; blank matches every value, and the description
    links to the guide's own example values.

What is decided here: facets, default sort orders, and what is not shown (hardware_hashes, whose bytes are
hardware hashes, is hidden and refused; plugins/hide_secrets.py makes the secret columns read as NULL in any SQL).

The schema itself (every table, view and column) is read from migrations/*.sql, applied to an in-memory database:
a table, view or view column the guide does not describe is an error, so the metadata cannot fall behind.
Python 3 standard library only.
"""

import difflib
import glob
import html
import json
import os
import re
import sqlite3
import sys
import urllib.parse

ROOT = os.path.normpath(os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
GUIDE = os.path.join(ROOT, 'docs', 'auditing.md')
OUTPUT = os.path.join(ROOT, 'config', 'datasette', 'metadata.json')

# The database as Datasette names it: the file name without its extension (the daemon's registry.sqlite).
DATABASE = 'registry'

# Facets and sort orders of the views auditors use most (and of the log).
FACETS = {
    'consent_history': ['partner_name', 'tenant_name', 'status', 'basis'],
    'active_consents': ['tenant_name', 'partner_name', 'basis'],
    'device_registrations': ['tenant_name', 'partner_name', 'status', 'channel'],
    'revocation_history': ['status', 'partner_name'],
    'refused_calls': ['method', 'outcome', 'actor_role'],
    'audit_events': ['method', 'outcome', 'actor_role'],
    'consent_events': ['kind', 'partner_id', 'tenant_id'],
}
SORT_DESC = {
    'consent_history': 'granted_at',
    'active_consents': 'granted_at',
    'device_registrations': 'registered_at',
    'revocation_history': 'requested_at',
    'refused_calls': 'seq',
    'audit_events': 'seq',
    'consent_events': 'seq',
}

# Never shown: the table of hardware-hash bytes is hidden from the lists and refused (its page, its rows, its JSON
# and CSV). The columns below read as NULL in any query (plugins/hide_secrets.py, which imports this list from
# metadata.json's "plugins" block).
REFUSED_TABLES = ['hardware_hashes']
SECRET_COLUMNS = {'hardware_hashes': ['bytes'], 'links': ['token_sha256']}
# Tables of the database that are not the registry's own.
INTERNAL_TABLES = {'grdb_migrations': 'The schema migrations applied to this database (kept by the daemon).'}

# The base tables behind the views: their columns take the text of the view column they become.
VIEW_OF_TABLE = {
    'grants': ('consent_history', {'id': 'grant_id'}),
    'devices': ('device_registrations', {'id': 'device_id'}),
    'revocation_requests': ('revocation_history', {'id': 'request_id', 'created_at': 'requested_at'}),
}

# Columns whose literal in an example question becomes a named parameter, and the parameter's name.
PARAMETERS = {
    'partner_name': 'partner',
    'tenant_name': 'tenant',
    'serial_number': 'serial_number',
    'actor_account': 'account',
}
PARAMETER_MEANING = {
    'partner': 'partner',
    'tenant': 'tenant',
    'serial_number': 'serial number',
    'account': 'tenant account (UPN)',
}


def fail(message):
    sys.exit(f'generate-metadata: {message}')


def schema():
    """Every table and view of the migrations, in order, with its columns: {name: (type, [columns])}."""
    db = sqlite3.connect(':memory:')
    for path in sorted(glob.glob(os.path.join(ROOT, 'migrations', '*.sql'))):
        with open(path, encoding='utf-8') as f:
            db.executescript(f.read())
    result = {}
    for name, kind in db.execute("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'view') "
                                 "AND name NOT LIKE 'sqlite_%' ORDER BY rowid"):
        result[name] = (kind, [row[1] for row in db.execute('SELECT * FROM pragma_table_info(?)', (name,))])
    return result


def without_references(text):
    """The text without its pointers to other parts of the guide ("[below](#the-audit-log)", ", below", "see below")."""
    text = re.sub(r'^\[[^\]]+\]\(#[^)]*\)$', '', text.strip())
    return re.sub(r'[,;]?\s*(see )?below\b', '', text).strip()


def plain(text):
    """Markdown inline text as plain text: no backticks, emphasis or link targets."""
    text = re.sub(r'\[([^\]]+)\]\([^)]*\)', r'\1', text)
    text = text.replace('**', '').replace('`', '')
    return text.strip()


def inline_html(text):
    """Markdown inline text as HTML: `code`, **strong**, links to the guide's anchors kept as text."""
    text = html.escape(re.sub(r'\[([^\]]+)\]\([^)]*\)', r'\1', text), quote=False)
    text = re.sub(r'`([^`]+)`', r'<code>\1</code>', text)
    return re.sub(r'\*\*([^*]+)\*\*', r'<strong>\1</strong>', text).strip()


def sentence(text):
    text = text.strip()
    return text if text.endswith(('.', '?', '!')) else text + '.'


class Guide:
    def __init__(self, path):
        with open(path, encoding='utf-8') as f:
            self.lines = f.read().split('\n')

    def section(self, heading):
        """The lines under `## heading`, up to the next `## ` heading."""
        try:
            start = self.lines.index('## ' + heading)
        except ValueError:
            fail(f'docs/auditing.md has no section "## {heading}"')
        end = start + 1
        while end < len(self.lines) and not self.lines[end].startswith('## '):
            end += 1
        return self.lines[start + 1:end]

    @staticmethod
    def table_rows(lines):
        """The body rows of the first Markdown table in `lines`, as lists of cell texts."""
        rows, started = [], False
        for line in lines:
            if line.startswith('|'):
                cells = [c.strip() for c in re.split(r'(?<!\\)\|', line.strip())[1:-1]]
                if started and not all(re.fullmatch(r':?-+:?', c) for c in cells):
                    rows.append(cells)
                started = True
            elif started:
                break
        return rows

    @staticmethod
    def paragraphs(lines):
        """The prose paragraphs of `lines` (no tables, code blocks or headings), each joined into one line."""
        result, current, fenced = [], [], False
        for line in lines + ['']:
            if line.startswith('```'):
                fenced = not fenced
                continue
            if fenced or line.startswith(('|', '#')) or not line.strip():
                if current:
                    result.append(' '.join(current))
                current = []
            else:
                current.append(line.strip())
        return result

    @staticmethod
    def subsections(lines):
        """The `### ` subsections of `lines`: [(heading, lines)]."""
        result = []
        for line in lines:
            if line.startswith('### '):
                result.append((line[4:], []))
            elif result:
                result[-1][1].append(line)
        return result


def code_name(cell):
    match = re.fullmatch(r'`([^`]+)`', cell)
    return match.group(1) if match else None


def build():
    tables = schema()
    guide = Guide(GUIDE)
    descriptions, columns = {}, {name: {} for name in tables}

    # The schema table: "one row per" and the notes; `name`: text notes describe other tables and columns.
    schema_section = guide.section('The schema in plain words')
    for cells in guide.table_rows(schema_section):
        name = code_name(cells[0])
        if name not in tables:
            fail(f'the schema table names {cells[0]}, which the migrations do not create')
        notes = [part for part in re.split(r';\s*', without_references(cells[2])) if part]
        text = '; '.join(plain(part) for part in notes)
        if text and not notes[0].startswith('`'):
            text = text[:1].upper() + text[1:]
        descriptions[name] = sentence('One row per ' + plain(cells[1])) + (' ' + sentence(text) if text else '')
        for part in notes:
            match = re.match(r'`([a-z_]+)`: (.+)', part.strip())
            if not match:
                continue
            target, text = match.group(1), plain(match.group(2))
            if target in tables and target not in descriptions:
                descriptions[target] = f'Of {name}: {sentence(text)}'
            elif target in tables[name][1]:
                columns[name][target] = text
            else:
                fail(f'the notes of {name} describe `{target}`, which is neither a table nor one of its columns')
    database_description = ' '.join(plain(p) for p in guide.paragraphs(schema_section[:schema_section.index(
        next(line for line in schema_section if line.startswith('|')))]))

    # The audit log.
    audit_section = guide.section('The audit log')
    descriptions['audit_events'] += ' ' + plain(guide.paragraphs(audit_section)[0])
    for cells in guide.table_rows(audit_section):
        columns['audit_events'][code_name(cells[0])] = plain(without_references(cells[1]))

    # Consent events: a table with a section of its own.
    for cells in guide.table_rows(guide.section('Consent events')):
        columns['consent_events'][code_name(cells[0])] = plain(without_references(cells[1]))

    # The views.
    view_sections = guide.subsections(guide.section('The views'))
    for heading, lines in view_sections:
        view = code_name(heading)
        if view not in tables or tables[view][0] != 'view':
            fail(f'"### {heading}" of "The views" is not a view of the migrations')
        descriptions[view] = ' '.join(plain(p) for p in guide.paragraphs(lines))
        for cells in guide.table_rows(lines):
            columns[view][code_name(cells[0])] = cells[1]
    for view in (code_name(h) for h, _ in view_sections):
        for column, text in columns[view].items():
            match = re.fullmatch(r'as in `([a-z_]+)`', text)
            if match:
                text = columns[match.group(1)].get(column) or fail(f'{view}.{column}: "{text}" names no such column')
            columns[view][column] = plain(text)
        documented, actual = list(columns[view]), tables[view][1]
        if documented != actual:
            fail(f'docs/auditing.md documents the columns of {view} as {documented}, the migrations make {actual}')
    for table, (view, renamed) in VIEW_OF_TABLE.items():
        for column in tables[table][1]:
            text = columns[view].get(renamed.get(column, column))
            if text and column not in columns[table]:
                columns[table][column] = text

    for name, text in INTERNAL_TABLES.items():
        tables[name] = ('table', [])
        descriptions[name] = text
    missing = [name for name in tables if name not in descriptions]
    if missing:
        fail(f'docs/auditing.md does not describe {", ".join(missing)}')

    metadata = {
        'title': 'autopilotd audit',
        'description_html': (
            '<p>The autopilotd registry of customer consent and device registrations, read-only: browse, facet and '
            'filter the five views made for auditors, run the questions of the auditor\'s guide '
            '(<code>docs/auditing.md</code>), or write your own SELECT. Nothing here can change the registry, and '
            'no link token or hardware hash is ever shown.</p>'),
        'about': 'docs/auditing.md',
        'databases': {
            DATABASE: {
                'description': 'The live registry database, opened read-only. ' + database_description,
                'tables': {},
                'queries': {},
            },
        },
        'plugins': {
            'hide-secrets': {'columns': SECRET_COLUMNS},
        },
    }
    database = metadata['databases'][DATABASE]
    views_first = sorted(tables, key=lambda name: tables[name][0] != 'view')
    for name in views_first:
        entry = {'title': name.replace('_', ' ').capitalize(), 'description': descriptions[name]}
        hidden = {c: 'Not shown here (reads as empty).' for c in SECRET_COLUMNS.get(name, [])}
        described = {c: columns[name][c] if c not in hidden else hidden[c] + ' ' + columns[name].get(c, '')
                     for c in tables[name][1] if c in columns[name] or c in hidden}
        if described:
            entry['columns'] = {c: t.strip() for c, t in described.items()}
        if name in FACETS:
            entry['facets'] = FACETS[name]
        if name in SORT_DESC:
            entry['sort_desc'] = SORT_DESC[name]
        if name in REFUSED_TABLES:
            entry.update({'hidden': True, 'allow': False, 'label_column': tables[name][1][0]})
            entry['description'] += ' Hidden here: its bytes are hardware hashes.'
        if name in INTERNAL_TABLES:
            entry['hidden'] = True
        database['tables'][name] = entry

    # The example questions as canned queries.
    slugs = set()
    for heading, lines in guide.subsections(guide.section('Example questions')):
        blocks, current = [], None
        for line in lines:
            if current is None and line == '```sql':
                current = []
            elif current is not None and line == '```':
                blocks.append('\n'.join(current))
                current = None
            elif current is not None:
                current.append(line)
        if len(blocks) != 1:
            fail(f'"### {heading}" has {len(blocks)} sql blocks')
        sql, examples = parameterise(blocks[0])
        words = heading
        for parameter, value in examples.items():
            words = words.replace(value, parameter.replace('_', ' '))
        slug = '-'.join(re.findall(r'[a-z0-9]+', words.lower().replace("'s ", ' ')))
        if slug in slugs:
            fail(f'two questions make the query name {slug}')
        slugs.add(slug)
        query = {'title': heading, 'sql': sql}
        text = [inline_html(p) for p in guide.paragraphs(lines)]
        if examples:
            query['params'] = list(examples)
            asked = ' and '.join(PARAMETER_MEANING[p] for p in examples)
            link = html.escape(urllib.parse.urlencode(examples, safe='@'))
            shown = ', '.join(html.escape(value) for value in examples.values())
            text.append(f'Asks about the {asked} given in the form below; a blank field matches every one. '
                        f'The guide\'s example: <a href="?{link}">{shown}</a>.')
        if text:
            query['description_html'] = ''.join(f'<p>{t}</p>' for t in text)
        database['queries'][slug] = query
    return metadata


def parameterise(sql):
    """The SQL with each literal compared with a name column turned into a named parameter that matches every value
    when blank, and the literals it replaced: {parameter: literal}."""
    examples = {}

    def replace(match):
        column, value = match.group(2), match.group(3)
        parameter = PARAMETERS[column]
        if examples.get(parameter, value) != value:
            fail(f'two values for :{parameter} in one question')
        examples[parameter] = value
        return f"(:{parameter} = '' OR {match.group(1)} = :{parameter})"

    pattern = r"\b((?:[a-z_]+\.)?(" + '|'.join(PARAMETERS) + r"))\s*=\s*'([^']*)'"
    return re.sub(pattern, replace, sql), examples


def main():
    text = json.dumps(build(), indent=2, ensure_ascii=False) + '\n'
    if sys.argv[1:] == ['--check']:
        with open(OUTPUT, encoding='utf-8') as f:
            committed = f.read()
        if committed != text:
            sys.stdout.writelines(difflib.unified_diff(committed.splitlines(True), text.splitlines(True),
                                                       'metadata.json (committed)', 'metadata.json (from docs)'))
            sys.exit('config/datasette/metadata.json is out of date: run python3 config/datasette/generate-metadata.py')
        print('config/datasette/metadata.json matches docs/auditing.md')
    elif sys.argv[1:] == ['--stdout']:
        sys.stdout.write(text)
    elif not sys.argv[1:]:
        with open(OUTPUT, 'w', encoding='utf-8') as f:
            f.write(text)
    else:
        sys.exit('usage: generate-metadata.py [--check | --stdout]')


if __name__ == '__main__':
    main()
