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

#endif
