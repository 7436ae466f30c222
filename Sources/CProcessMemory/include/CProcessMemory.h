#ifndef CPROCESSMEMORY_H
#define CPROCESSMEMORY_H

#include <stddef.h>

/// Unmaps the pages of this process's read-only file mappings (the executable's and shared libraries' code and
/// read-only data) that still hold the file's own bytes, so that only what runs next is mapped again. Pages a
/// debugger or uprobe has written to (copied on write) and every writable segment are left alone. The pages stay in
/// the kernel's page cache: touching one again is a minor fault.
///
/// Returns the bytes that were mapped and are not any more; 0 where /proc/self/pagemap cannot be read (nothing is
/// released then).
size_t process_memory_release_code_pages(void);

/// Has the kernel map the read-only segments' pages (those `process_memory_release_code_pages` walks) one per fault.
/// Otherwise a fault on a file mapping also maps the cached pages around it (fault-around, 64 KiB by default), so
/// every page of code that runs brings fifteen neighbours into the RSS.
///
/// Linux maps one page per fault in ranges registered with a userfaultfd; they are registered here for
/// write-protection with the kernel resolving write faults itself (`UFFD_FEATURE_WP_ASYNC`, Linux 6.7), so nothing
/// has to answer the descriptor, and for user-mode faults only (what an unprivileged process may ask for). No page
/// is write-protected. The descriptor stays open for the life of the process: closing it would undo the
/// registration. Calling again registers the segments loaded since. Not for two threads at once.
///
/// Returns 0, or the errno of what refused it (ENOSYS or EPERM where the system does not allow userfaultfd, EINVAL
/// where the kernel is older than 6.7); nothing changes then.
int process_memory_map_code_by_page(void);

/// As `process_memory_map_code_by_page`, for one page-aligned range of this process's own mappings (for tests).
int process_memory_map_range_by_page(void *start, size_t length);

#endif
