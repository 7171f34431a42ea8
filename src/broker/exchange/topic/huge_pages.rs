//! Transparent huge pages for a big topic trie's arrays.
//!
//! A route through a million bindings reads two random places of a few hundred megabytes
//! (the edge table's slot and the child node). With 4 KiB pages each read is also a TLB
//! miss, and a page walk under virtualisation costs as much as the read: measured, 1M
//! bindings routed at 1.90–2.07x the cost of one binding without huge pages and 1.67–1.79x
//! with them (`benches/scale --only bindings`, benches/RESULTS.md). Linux gives huge pages to anonymous memory
//! only where asked (`/sys/kernel/mm/transparent_hugepage/enabled` is `madvise` on most
//! distributions), so the trie asks for its own arrays, not for the whole heap: RSS per
//! queue and per connection stay as they were.

/// Asks the kernel to back the 2 MiB-aligned part of `v`'s buffer with huge pages. Called
/// when the buffer was (re)allocated; a buffer smaller than 2 MiB has no such part.
pub fn advise<T>(v: &Vec<T>) {
    #[cfg(target_os = "linux")]
    {
        const HUGE: usize = 2 << 20;
        let start = v.as_ptr() as usize;
        let end = start + v.capacity() * std::mem::size_of::<T>();
        let from = start.next_multiple_of(HUGE);
        let to = end / HUGE * HUGE;
        if to > from {
            // SAFETY: the range lies inside `v`'s own allocation and is page-aligned;
            // MADV_HUGEPAGE is advice about how to back it and changes none of its contents.
            // A kernel without transparent huge pages refuses it, which changes nothing.
            let _ = unsafe {
                rustix::mm::madvise(
                    from as *mut std::ffi::c_void,
                    to - from,
                    rustix::mm::Advice::LinuxHugepage,
                )
            };
        }
    }
    #[cfg(not(target_os = "linux"))]
    let _ = v;
}
