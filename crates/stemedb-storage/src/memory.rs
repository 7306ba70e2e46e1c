//! Process-wide memory settings for the binaries that run a store.

/// Turns transparent huge pages off for this process (Linux; elsewhere a
/// no-op). Call it first thing in `main`.
///
/// The allocator (mimalloc) asks the kernel for huge pages on its arenas
/// (`MADV_HUGEPAGE`). With the common kernel setting `defrag = madvise`, each
/// first touch of such a 2 MiB region compacts memory for a huge page and
/// zeroes all of it, and memory the allocator returns and takes again is
/// faulted and zeroed again. A store's write path allocates and frees
/// batch-sized buffers continuously: in a 1M-claim HTTP batch ingest,
/// `perf` put 87 % of the server's samples in the kernel zeroing those pages
/// (`clear_page_erms`); turning huge pages off made the ingest 22–40 % faster
/// and cut the single-write p99 from ~31 ms to ~5.5 ms, with no change to
/// queries (`docs/benchmarks.md`, "Transparent huge pages off").
pub fn no_transparent_huge_pages() -> std::io::Result<()> {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: PR_SET_THP_DISABLE takes integer arguments only and
        // reads or writes no memory of this process; it sets a flag the
        // kernel checks on later page faults.
        let rc = unsafe { libc::prctl(libc::PR_SET_THP_DISABLE, 1, 0, 0, 0) };
        if rc != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}
