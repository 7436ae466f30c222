#define _GNU_SOURCE
#include "CProcessMemory.h"

#include <errno.h>
#include <fcntl.h>
#include <link.h>
#include <linux/userfaultfd.h>
#include <stdint.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

// Newer than some distributions' kernel headers (Linux 5.11 and 6.7).
#ifndef UFFD_USER_MODE_ONLY
#define UFFD_USER_MODE_ONLY 1
#endif
#ifndef UFFD_FEATURE_WP_ASYNC
#define UFFD_FEATURE_WP_ASYNC (1 << 15)
#endif

// /proc/PID/pagemap: one 64-bit entry per virtual page (Documentation/admin-guide/mm/pagemap.rst).
#define PAGEMAP_PRESENT (1ULL << 63)
#define PAGEMAP_SWAPPED (1ULL << 62)
#define PAGEMAP_FILE_OR_SHARED (1ULL << 61)

// Hands the whole pages of every loaded object's read-only segments (code, read-only data), [start, end) each, to
// `visit`, and stops at the first that fails. A page a segment shares with a writable neighbour belongs to that
// neighbour's mapping and is left out; so is the vDSO, which is the kernel's and not a file mapping.
struct segment_walk {
    uintptr_t page;
    int (*visit)(uintptr_t start, uintptr_t end, void *context);
    void *context;
    int failure;
};

static int walk_object(struct dl_phdr_info *info, size_t size, void *data) {
    (void)size;
    struct segment_walk *walk = data;
    if (info->dlpi_name && strstr(info->dlpi_name, "linux-vdso") != NULL) return 0;
    for (int i = 0; i < info->dlpi_phnum; i++) {
        const ElfW(Phdr) *segment = &info->dlpi_phdr[i];
        if (segment->p_type != PT_LOAD || (segment->p_flags & PF_W) || segment->p_filesz == 0) continue;
        uintptr_t first = info->dlpi_addr + segment->p_vaddr;
        uintptr_t start = (first + walk->page - 1) & ~(walk->page - 1);
        uintptr_t end = (first + segment->p_filesz) & ~(walk->page - 1);
        if (end <= start) continue;
        walk->failure = walk->visit(start, end, walk->context);
        if (walk->failure != 0) return 1;
    }
    return 0;
}

static int walk_read_only_segments(int (*visit)(uintptr_t, uintptr_t, void *), void *context) {
    struct segment_walk walk = { .page = (uintptr_t)sysconf(_SC_PAGESIZE), .visit = visit, .context = context };
    dl_iterate_phdr(walk_object, &walk);
    return walk.failure;
}

// MARK: Releasing

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

static int release_segment(uintptr_t start, uintptr_t end, void *context) {
    struct release_state *state = context;
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
    return 0;
}

size_t process_memory_release_code_pages(void) {
    struct release_state state = { .pagemap = -1, .page = (uintptr_t)sysconf(_SC_PAGESIZE) };
    state.pagemap = open("/proc/self/pagemap", O_RDONLY | O_CLOEXEC);
    if (state.pagemap < 0) return 0;
    walk_read_only_segments(release_segment, &state);
    close(state.pagemap);
    return state.released;
}

// MARK: Mapping one page per fault

// Kept open for the life of the process: closing a userfaultfd unregisters every range registered through it.
static int by_page_fd = -1;

static int open_by_page_fd(void) {
    if (by_page_fd >= 0) return 0;
    // User-mode faults only: what an unprivileged process may ask for (vm.unprivileged_userfaultfd = 0).
    int fd = (int)syscall(SYS_userfaultfd, O_CLOEXEC | O_NONBLOCK | UFFD_USER_MODE_ONLY);
    if (fd < 0) return errno;
    // Asynchronous write-protection: the kernel resolves a write fault itself, so nothing ever reads this
    // descriptor (and nothing here write-protects a page: registering is all that is wanted of it).
    struct uffdio_api api = { .api = UFFD_API, .features = UFFD_FEATURE_WP_ASYNC };
    if (ioctl(fd, UFFDIO_API, &api) != 0) {
        int failure = errno;
        close(fd);
        return failure;
    }
    by_page_fd = fd;
    return 0;
}

static int register_by_page(uintptr_t start, uintptr_t end, void *context) {
    (void)context;
    struct uffdio_register range = { .range = { .start = start, .len = end - start }, .mode = UFFDIO_REGISTER_MODE_WP };
    return ioctl(by_page_fd, UFFDIO_REGISTER, &range) == 0 ? 0 : errno;
}

int process_memory_map_range_by_page(void *start, size_t length) {
    int failure = open_by_page_fd();
    if (failure != 0) return failure;
    return register_by_page((uintptr_t)start, (uintptr_t)start + length, NULL);
}

int process_memory_map_code_by_page(void) {
    int failure = open_by_page_fd();
    if (failure != 0) return failure;
    return walk_read_only_segments(register_by_page, NULL);
}
