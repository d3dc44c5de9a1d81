//! Panics inside the Symphonia back end become `invalid_media` errors.
//!
//! A demuxer or decoder tripping over a hostile file (an arithmetic overflow on a claimed
//! sample count, say: `tests/cli/hostile.rs` found two in Symphonia 0.6.1) must not take the
//! CLI or a worker down. Only calls into Symphonia run inside [`contain`]; a panic there is
//! caught, its message goes to the log (not to stderr: the CLI's one-line error contract
//! holds), and the caller gets an error. Panics anywhere else behave as usual.

use std::cell::{Cell, RefCell};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::Once;

use crate::error::{Error, Result};
use crate::media::decode::Decoder;

thread_local! {
    static CONTAINING: Cell<bool> = const { Cell::new(false) };
    static LAST_PANIC: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// Wrap the process's panic hook once: inside [`contain`] the message is kept for the log;
/// elsewhere the previous hook runs.
fn install_hook() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if CONTAINING.with(Cell::get) {
                LAST_PANIC.with(|l| *l.borrow_mut() = Some(info.to_string()));
            } else {
                previous(info);
            }
        }));
    });
}

/// Run `f` (a call into Symphonia); a panic in it becomes [`Error::InvalidMedia`].
pub(crate) fn contain<T>(what: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    install_hook();
    let was = CONTAINING.with(|c| c.replace(true));
    let result = catch_unwind(AssertUnwindSafe(f));
    CONTAINING.with(|c| c.set(was));
    result.unwrap_or_else(|_| {
        let detail = LAST_PANIC
            .with(|l| l.borrow_mut().take())
            .unwrap_or_default();
        tracing::info!(panic = %detail, "{what} panicked on malformed input");
        Err(Error::InvalidMedia(format!(
            "the input is malformed: {what} could not read it"
        )))
    })
}

/// A Symphonia decoder whose every call is contained.
pub(crate) struct Contained(pub(crate) Box<dyn Decoder>);

impl Decoder for Contained {
    fn sample_rate(&self) -> u32 {
        self.0.sample_rate()
    }
    fn channels(&self) -> usize {
        self.0.channels()
    }
    fn source_bits(&self) -> Option<u32> {
        self.0.source_bits()
    }
    fn next_block(&mut self) -> Result<Option<&[f32]>> {
        contain("the Symphonia decoder", || self.0.next_block())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_panic_becomes_invalid_media_and_the_hook_is_restored_outside() {
        let r: Result<()> = contain("a test parser", || {
            let v: Vec<u32> = Vec::new();
            let i = v.len() + 3;
            assert!(v[i] == 0);
            Ok(())
        });
        match r {
            Err(Error::InvalidMedia(m)) => assert!(m.contains("a test parser"), "{m}"),
            other => panic!("expected invalid_media, got {other:?}"),
        }
        assert!(!CONTAINING.with(Cell::get));
        assert_eq!(contain("ok", || Ok(5)).unwrap(), 5);
        // Outside `contain`, panics still unwind as usual.
        assert!(catch_unwind(|| panic!("outside")).is_err());
    }
}
