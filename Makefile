# autopilotd: build and install the daemon, the CLI and their systemd integration.
#
#   make                      release build (Swift runtime linked statically) in $(SCRATCH)
#   make install              installs under $(DESTDIR)$(PREFIX), units, sysusers.d, /etc/autopilotd
#   make uninstall            removes what install put there (an edited autopilotd.conf or litestream.yml stays)
#   make bench                builds, then runs autopilot-bench all (docs/performance.md); BENCHFLAGS adds options
#   make audit-ui             serves the live database read-only in Datasette (docs/auditing.md, "Browsing in
#                             Datasette"); AUDIT_DB, AUDIT_UI_PORT or AUDIT_UI_SOCKET, DATASETTE choose
#
# PREFIX defaults to /usr/local; systemd reads units from /usr/local/lib/systemd/system and sysusers.d from
# /usr/local/lib/sysusers.d as well as from /usr/lib. Distribution packages use PREFIX=/usr. Every directory
# below can be overridden on the command line (make install UNITDIR=/etc/systemd/system).

PREFIX      ?= /usr/local
DESTDIR     ?=
BINDIR      ?= $(PREFIX)/bin
LIBDIR      ?= $(PREFIX)/lib
UNITDIR     ?= $(LIBDIR)/systemd/system
SYSUSERSDIR ?= $(LIBDIR)/sysusers.d
DATADIR     ?= $(PREFIX)/share
MANDIR      ?= $(DATADIR)/man
BASHCOMPDIR ?= $(DATADIR)/bash-completion/completions
ZSHCOMPDIR  ?= $(DATADIR)/zsh/site-functions
FISHCOMPDIR ?= $(DATADIR)/fish/vendor_completions.d
# The unit reads /etc/autopilotd/autopilotd.conf whatever the prefix.
CONFDIR     ?= /etc/autopilotd
# Litestream 0.5, which autopilotd-litestream.service runs (docs/replication.md); not installed by make install.
LITESTREAM  ?= /usr/local/bin/litestream

SWIFT   ?= swift
SCRATCH ?= .build-release
INSTALL ?= install

SWIFTFLAGS = -c release --static-swift-stdlib --scratch-path $(SCRATCH)
# The static runtime's link line exports every Swift symbol of the executable (-export-dynamic), for nothing this
# package uses: the 24,000-entry dynamic symbol table that makes is 2.1 MB, which the loader reads at every start and
# which stays resident (1.5 MiB of idle RSS, docs/performance.md). The later flag wins.
SWIFTFLAGS += -Xlinker --no-export-dynamic
# Where the C library can load them (glibc 2.36 and later), pack the executables' relative relocations (DT_RELR,
# linked with the toolchain's lld): the ~98,000 of a static-stdlib PIE otherwise fill 2.3 MB that the loader reads at
# every start and that stays resident (docs/performance.md, idle RSS).
RELR := $(shell getconf GNU_LIBC_VERSION 2>/dev/null | awk '{ split($$2, v, "."); print (v[1] > 2 || (v[1] == 2 && v[2] >= 36)) ? "yes" : "no" }')
ifeq ($(RELR),yes)
SWIFTFLAGS += -Xswiftc -use-ld=lld -Xlinker -z -Xlinker pack-relative-relocs
endif
BIN        = $(SCRATCH)/release
GEN        = $(SCRATCH)/generated
PROGRAMS   = autopilotd autopilotctl
# swift-argument-parser's own man page generator, built from the resolved checkout (works offline).
MANUAL_TOOL_PACKAGE = $(SCRATCH)/checkouts/swift-argument-parser
MANUAL_TOOL         = $(SCRATCH)/manual-tool/debug/generate-manual

.PHONY: all build generated install uninstall clean bench audit-ui

all: build generated

build:
	$(SWIFT) build $(SWIFTFLAGS) --product autopilotd
	$(SWIFT) build $(SWIFTFLAGS) --product autopilotctl

# The benchmark of docs/performance.md against the release build: prints the table and writes bench-results/.
BENCHFLAGS ?=
bench: build
	$(SWIFT) build $(SWIFTFLAGS) --product autopilot-bench
	mkdir -p bench-results
	$(BIN)/autopilot-bench all --json bench-results/results.json $(BENCHFLAGS) | tee bench-results/results.txt

# Datasette (PyPI datasette==0.65.5) on the live database, for a checkout: read-only (Datasette opens a file it was
# given without -i with SQLite's mode=ro, and refuses anything but SELECT), on loopback only, with the metadata, canned
# queries and plugins of config/datasette. Run it as a member of the auditors group. AUDIT_UI_SOCKET=PATH serves a
# Unix socket instead of AUDIT_UI_PORT: on a shared machine every local user can reach a loopback port, and only
# those you let through the socket's directory can reach a socket. The settings are those of
# systemd/autopilotd-audit-ui.service (a test holds them equal). The metadata names the database `registry`, which
# is what Datasette calls a file named registry.sqlite.
AUDIT_DB        ?= /var/lib/autopilotd/registry.sqlite
AUDIT_UI_PORT   ?= 8001
AUDIT_UI_SOCKET ?=
AUDIT_UI_CONFIG ?= config/datasette
DATASETTE       ?= datasette
AUDIT_UI_SETTINGS = --setting sql_time_limit_ms 5000 --setting default_cache_ttl 0 --setting allow_download off
AUDIT_UI_LISTEN   = $(if $(AUDIT_UI_SOCKET),--uds $(AUDIT_UI_SOCKET),--host 127.0.0.1 --port $(AUDIT_UI_PORT))
AUDIT_UI_PLUGINS  = $(notdir $(wildcard config/datasette/plugins/*.py))

audit-ui:
	@test "$(notdir $(AUDIT_DB))" = registry.sqlite || \
	    { echo "make audit-ui: AUDIT_DB must be the daemon's registry.sqlite (the metadata is for that name)" >&2; exit 2; }
	@test -r "$(AUDIT_DB)" || \
	    { echo "make audit-ui: cannot read $(AUDIT_DB): set AUDIT_DB, or join the auditors group" >&2; exit 2; }
	$(DATASETTE) serve --metadata $(AUDIT_UI_CONFIG)/metadata.json --plugins-dir $(AUDIT_UI_CONFIG)/plugins $(AUDIT_UI_SETTINGS) $(AUDIT_UI_LISTEN) $(AUDIT_DB)

$(MANUAL_TOOL): build
	$(SWIFT) build --package-path $(MANUAL_TOOL_PACKAGE) --scratch-path $(SCRATCH)/manual-tool --product generate-manual

# Completions and man pages come from the argument parser of the built binaries.
generated: build $(MANUAL_TOOL)
	rm -rf $(GEN)
	mkdir -p $(GEN)/bash $(GEN)/zsh $(GEN)/fish $(GEN)/man1 $(GEN)/man8
	for p in $(PROGRAMS); do \
	    $(BIN)/$$p --generate-completion-script bash > $(GEN)/bash/$$p && \
	    $(BIN)/$$p --generate-completion-script zsh > $(GEN)/zsh/_$$p && \
	    $(BIN)/$$p --generate-completion-script fish > $(GEN)/fish/$$p.fish || exit 1; \
	done
	$(MANUAL_TOOL) $(BIN)/autopilotd --section 8 --output-directory $(GEN)/man8
	$(MANUAL_TOOL) $(BIN)/autopilotctl --section 1 --output-directory $(GEN)/man1
	sed 's|/usr/local/bin/autopilotd|$(BINDIR)/autopilotd|' systemd/autopilotd.service > $(GEN)/autopilotd.service
	sed 's|/usr/local/bin/litestream|$(LITESTREAM)|' systemd/autopilotd-litestream.service \
	    > $(GEN)/autopilotd-litestream.service
	sed 's|/usr/local/share/autopilotd/|$(DATADIR)/autopilotd/|g' systemd/autopilotd-audit-ui.service \
	    > $(GEN)/autopilotd-audit-ui.service

install: all
	$(INSTALL) -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(UNITDIR) $(DESTDIR)$(SYSUSERSDIR) $(DESTDIR)$(CONFDIR) \
	    $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man8 \
	    $(DESTDIR)$(BASHCOMPDIR) $(DESTDIR)$(ZSHCOMPDIR) $(DESTDIR)$(FISHCOMPDIR)
	$(INSTALL) -m 0755 $(BIN)/autopilotd $(BIN)/autopilotctl $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 0644 $(GEN)/autopilotd.service systemd/autopilotd.socket $(DESTDIR)$(UNITDIR)/
	$(INSTALL) -m 0644 $(GEN)/autopilotd-audit-ui.service $(DESTDIR)$(UNITDIR)/
	$(INSTALL) -m 0644 $(GEN)/autopilotd-litestream.service $(DESTDIR)$(UNITDIR)/
	$(INSTALL) -d $(DESTDIR)$(DATADIR)/autopilotd/datasette/plugins
	$(INSTALL) -m 0644 config/datasette/metadata.json $(DESTDIR)$(DATADIR)/autopilotd/datasette/
	$(INSTALL) -m 0644 $(addprefix config/datasette/plugins/,$(AUDIT_UI_PLUGINS)) \
	    $(DESTDIR)$(DATADIR)/autopilotd/datasette/plugins/
	$(INSTALL) -m 0644 systemd/sysusers.d/autopilotd.conf $(DESTDIR)$(SYSUSERSDIR)/autopilotd.conf
	test -e $(DESTDIR)$(CONFDIR)/autopilotd.conf || \
	    $(INSTALL) -m 0644 config/autopilotd.conf $(DESTDIR)$(CONFDIR)/autopilotd.conf
	test -e $(DESTDIR)$(CONFDIR)/litestream.yml || \
	    $(INSTALL) -m 0644 config/litestream.yml $(DESTDIR)$(CONFDIR)/litestream.yml
	$(INSTALL) -m 0644 $(GEN)/man8/autopilotd.8 $(DESTDIR)$(MANDIR)/man8/
	$(INSTALL) -m 0644 $(GEN)/man1/autopilotctl.1 $(DESTDIR)$(MANDIR)/man1/
	for p in $(PROGRAMS); do \
	    $(INSTALL) -m 0644 $(GEN)/bash/$$p $(DESTDIR)$(BASHCOMPDIR)/$$p && \
	    $(INSTALL) -m 0644 $(GEN)/zsh/_$$p $(DESTDIR)$(ZSHCOMPDIR)/_$$p && \
	    $(INSTALL) -m 0644 $(GEN)/fish/$$p.fish $(DESTDIR)$(FISHCOMPDIR)/$$p.fish || exit 1; \
	done

# The example config is removed only while it is unchanged; the database in /var/lib/autopilotd is never touched.
uninstall:
	rm -f $(DESTDIR)$(BINDIR)/autopilotd $(DESTDIR)$(BINDIR)/autopilotctl
	rm -f $(DESTDIR)$(UNITDIR)/autopilotd.service $(DESTDIR)$(UNITDIR)/autopilotd.socket
	rm -f $(DESTDIR)$(UNITDIR)/autopilotd-audit-ui.service
	rm -f $(DESTDIR)$(UNITDIR)/autopilotd-litestream.service
	rm -f $(DESTDIR)$(DATADIR)/autopilotd/datasette/metadata.json
	for f in $(AUDIT_UI_PLUGINS); do rm -f $(DESTDIR)$(DATADIR)/autopilotd/datasette/plugins/$$f; done
	rmdir $(DESTDIR)$(DATADIR)/autopilotd/datasette/plugins $(DESTDIR)$(DATADIR)/autopilotd/datasette \
	    $(DESTDIR)$(DATADIR)/autopilotd 2>/dev/null || true
	rm -f $(DESTDIR)$(SYSUSERSDIR)/autopilotd.conf
	rm -f $(DESTDIR)$(MANDIR)/man8/autopilotd.8 $(DESTDIR)$(MANDIR)/man1/autopilotctl.1
	for p in $(PROGRAMS); do \
	    rm -f $(DESTDIR)$(BASHCOMPDIR)/$$p $(DESTDIR)$(ZSHCOMPDIR)/_$$p $(DESTDIR)$(FISHCOMPDIR)/$$p.fish; \
	done
	if cmp -s config/litestream.yml $(DESTDIR)$(CONFDIR)/litestream.yml; then \
	    rm -f $(DESTDIR)$(CONFDIR)/litestream.yml; \
	fi
	if cmp -s config/autopilotd.conf $(DESTDIR)$(CONFDIR)/autopilotd.conf; then \
	    rm -f $(DESTDIR)$(CONFDIR)/autopilotd.conf; rmdir $(DESTDIR)$(CONFDIR) 2>/dev/null || true; \
	fi

clean:
	rm -rf $(SCRATCH)
