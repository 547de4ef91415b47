//! Flush-to-zero / denormals-are-zero for the engine's threads.
//!
//! Decaying optimizer state and saturated gates drift into subnormal floats, which
//! are many times slower on x86. Every native call sets FTZ+DAZ on the calling thread
//! for its duration and restores the caller's mode on return (so numpy's own results
//! are untouched); the rayon workers set it once at start-up.

#[cfg(target_arch = "x86_64")]
mod imp {
    use std::arch::asm;

    const FTZ_DAZ: u32 = (1 << 15) | (1 << 6);

    pub fn get() -> u32 {
        let mut v: u32 = 0;
        // SAFETY: stmxcsr stores the 32-bit MXCSR register to the given address.
        unsafe { asm!("stmxcsr [{}]", in(reg) &mut v, options(nostack)) };
        v
    }

    pub fn set(v: u32) {
        // SAFETY: ldmxcsr loads MXCSR; we only ever write values read from it with
        // the FTZ/DAZ bits toggled, which are valid on every x86-64 CPU with SSE2+.
        unsafe { asm!("ldmxcsr [{}]", in(reg) &v, options(nostack)) };
    }

    pub fn enable() -> u32 {
        let old = get();
        set(old | FTZ_DAZ);
        old
    }
}

#[cfg(not(target_arch = "x86_64"))]
mod imp {
    pub fn get() -> u32 {
        0
    }
    pub fn set(_v: u32) {}
    pub fn enable() -> u32 {
        0
    }
}

/// Sets FTZ/DAZ on this thread until dropped, then restores the previous mode.
#[derive(Debug)]
pub struct FlushDenormals {
    saved: u32,
}

impl FlushDenormals {
    /// Enables flush-to-zero on the current thread.
    pub fn new() -> FlushDenormals {
        FlushDenormals {
            saved: imp::enable(),
        }
    }
}

impl Default for FlushDenormals {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for FlushDenormals {
    fn drop(&mut self) {
        imp::set(self.saved);
    }
}

/// Enables FTZ/DAZ for the rest of this thread's life (pool workers).
pub fn enable_for_thread() {
    imp::enable();
}

/// The raw MXCSR value (tests).
pub fn current_mode() -> u32 {
    imp::get()
}
