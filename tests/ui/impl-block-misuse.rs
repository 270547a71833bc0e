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

pub trait Energy {
    fn energy(q: f64) -> f64;
}

// A trait's impl cannot take the generated fns.
#[differentiable]
impl Energy for Idle {
    #[differentiable]
    fn energy(q: f64) -> f64 {
        q * q
    }
}

// A tuple struct's constructor is not a fn tapeless calls through.
pub struct Pair<T>(T, T);

#[differentiable]
impl<T: Float> Pair<T> {
    #[differentiable]
    pub fn first(x: T) -> T {
        let p = Self(x, x * x);
        p.0
    }
}

// A method that may change `self` is not differentiated.
pub struct Counter {
    n: usize,
}

#[differentiable]
impl Counter {
    #[differentiable]
    pub fn step(&mut self, x: f64) -> f64 {
        self.n += 1;
        x * x
    }
}

// Outside its block, a `&self` method is called on a parameter by
// reference (`d: &Data`), not on one held by value.
pub struct Data {
    scale: f64,
}

#[differentiable]
impl Data {
    #[differentiable]
    pub fn scaled<T: Float>(&self, x: T) -> T {
        x * T::from(self.scale).unwrap()
    }
}

#[differentiable]
fn by_reference<T: Float>(d: &Data, x: T) -> T {
    d.scaled(x)
}

#[differentiable]
fn by_value<T: Float>(d: Data, x: T) -> T {
    d.scaled(x)
}

fn main() {}
