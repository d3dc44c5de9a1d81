//! What a caller passes to follow or stop a running extraction; the pipeline asks it at
//! every block.

/// Hooks a caller may pass to follow or stop a running extraction.
#[derive(Default, Clone, Copy)]
pub struct Control<'a> {
    /// Called with 0..=1 as decoding advances.
    pub progress: Option<&'a (dyn Fn(f64) + Sync)>,
    /// Asked at every block; `true` stops the extraction with
    /// [`Error::Canceled`](crate::Error::Canceled).
    pub cancel: Option<&'a (dyn Fn() -> bool + Sync)>,
}
