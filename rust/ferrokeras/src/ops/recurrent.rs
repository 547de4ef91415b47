//! (being written)

use super::{Attrs, OpRef};
use crate::Result;

/// Registry entry for this family.
pub fn build(_name: &str, _a: &Attrs) -> Option<Result<OpRef>> {
    None
}
