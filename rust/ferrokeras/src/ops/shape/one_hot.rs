//! `one_hot`: integer classes to one-hot float rows.

use std::sync::Arc;

use crate::ops::{expect_inputs, expect_int, Attrs, Op, OpCtx, OpRef, TypeInfo};
use crate::tensor::Value;
use crate::{Error, Result};

/// int32 class ids (...) -> float32 one-hot (..., nb_classes). No gradient.
#[derive(Debug)]
pub struct OneHot {
    nb: usize,
}

impl Op for OneHot {
    fn name(&self) -> &str {
        "one_hot"
    }

    fn infer(&self, inputs: &[TypeInfo]) -> Result<TypeInfo> {
        expect_inputs("one_hot", inputs, 1)?;
        let x = &inputs[0];
        expect_int("one_hot", "class ids", x)?;
        let mut shape = x.shape.clone();
        shape.push(Some(self.nb));
        Ok(TypeInfo::f32(shape))
    }

    fn forward(&self, inputs: &[&Value], out: &mut Value, _: &mut OpCtx) -> Result<()> {
        out.f.fill(0.0);
        for (k, &c) in inputs[0].i.iter().enumerate() {
            if c < 0 || c as usize >= self.nb {
                return Err(Error::Value(format!(
                    "one_hot: class id {c} is out of range for nb_classes={}",
                    self.nb
                )));
            }
            out.f[k * self.nb + c as usize] = 1.0;
        }
        Ok(())
    }

    fn has_grad(&self, _index: usize) -> bool {
        false
    }
}

pub(super) fn build(a: &Attrs) -> Result<OpRef> {
    let nb = a.int_req("nb_classes")?;
    if nb < 1 {
        return Err(Error::Value(format!(
            "one_hot: nb_classes must be >= 1, got {nb}"
        )));
    }
    Ok(Arc::new(OneHot { nb: nb as usize }))
}
