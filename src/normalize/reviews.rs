//! PLACEHOLDER: a helper is writing this adapter now.

use super::{Reason, Rejection};
use crate::event::CanonicalEvent;

pub(super) fn google(_text: &str) -> Result<CanonicalEvent, Rejection> {
    Err(Rejection::new(
        Reason::UnknownShape,
        "adapter not written yet",
    ))
}

pub(super) fn trustpilot(_text: &str) -> Result<CanonicalEvent, Rejection> {
    Err(Rejection::new(
        Reason::UnknownShape,
        "adapter not written yet",
    ))
}
