use tapeless::{differentiable, Float};

pub struct Robot;

// `wrt(..)` belongs on the fn, not on the block.
#[differentiable(wrt(q))]
impl Robot {
    #[differentiable]
    pub fn energy<T: Float>(q: T) -> T {
        q * q
    }
}

pub struct Idle;

// No fn in the block is marked.
#[differentiable]
impl Idle {
    pub fn energy<T: Float>(q: T) -> T {
        q * q
    }
}

// A fn the block does not mark is not differentiable: calling it from one
// that is names the missing protocol.
pub struct Mixed;

#[differentiable]
impl Mixed {
    pub fn plain<T: Float>(q: T) -> T {
        q
    }

    #[differentiable]
    pub fn user<T: Float>(q: T) -> T {
        Self::plain(q) * q
    }
}

fn main() {}
