#define _GNU_SOURCE
#include "CProcessMemory.h"

#include <fcntl.h>
#include <link.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

// /proc/PID/pagemap: one 64-bit entry per virtual page (Documentation/admin-guide/mm/pagemap.rst).
#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_SWAPPED (1ULL << 62)
#define PAGEMAP_FILE_OR_SHARED (1ULL << 61)

struct release_state {
    int pagemap;
    uintptr_t page;
    size_t released;
    size_t run_present;
};

// A page may go when unmapping it loses nothing: not mapped at all, or mapped straight from the file. A private
// page (a breakpoint written into code, a text relocation) may not, nor may one whose entry cannot be read.
static int entry_is_file_backed(uint64_t entry) {
    if (entry & PAGEMAP_SWAPPED) return 0;
    if (!(entry & PAGEMAP_PRESENT)) return 1;
    return (entry & PAGEMAP_FILE_OR_SHARED) != 0;
}

// Unmaps [start, end), counting the pages of it that were mapped.
static void release_run(struct release_state *state, uintptr_t start, uintptr_t end) {
    if (end > start && madvise((void *)start, end - start, MADV_DONTNEED) == 0) {
        state->released += state->run_present * state->page;
    }
    state->run_present = 0;
}

static int release_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct release_state *state = data;
    // The vDSO is the kernel's, not a file mapping.
    if (info->dlpi_name && strstr(info->dlpi_name, "linux-vdso") != NULL) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD || (segment->p_flags & PF_W) || segment->p_filesz == 0) continue;
        // Whole pages of the segment only: a page it shares with a writable neighbour belongs to that mapping.
        uintptr_t first = info->dlpi_addr + segment->p_vaddr;
        uintptr_t start = (first + state->page - 1) & ~(state->page - 1);
        uintptr_t end = (first + segment->p_filesz) & ~(state->page - 1);
        uintptr_t run = start;
        uint64_t entries[512];
        for (uintptr_t chunk = start; chunk < end; chunk += sizeof entries / sizeof entries[0] * state->page) {
            size_t count = (end - chunk) / state->page;
            if (count > sizeof entries / sizeof entries[0]) count = sizeof entries / sizeof entries[0];
            off_t offset = (off_t)(chunk / state->page) * (off_t)sizeof entries[0];
            ssize_t got = pread(state->pagemap, entries, count * sizeof entries[0], offset);
            size_t readable = got > 0 ? (size_t)got / sizeof entries[0] : 0;
            for (size_t k = 0; k < count; k++) {
                uintptr_t address = chunk + k * state->page;
                if (k >= readable || !entry_is_file_backed(entries[k])) {
                    release_run(state, run, address);
                    run = address + state->page;
                } else if (entries[k] & PAGEMAP_PRESENT) {
                    state->run_present++;
                }
            }
        }
        release_run(state, run, end);
    }
    return 0;
}

size_t process_memory_release_code_pages(void) {
    struct release_state state = { .pagemap = -1, .page = (uintptr_t)sysconf(_SC_PAGESIZE) };
    state.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (state.pagemap < 0) return 0;
    dl_iterate_phdr(release_object, &state);
    close(state.pagemap);
    return state.released;
}
