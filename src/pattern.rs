//! The pattern engine: Tidal/Strudel pattern algebra over exact rational time.
//!
//! A [`Pattern`] is a function from a span of time (in cycles) to the events ("haps")
//! active in it. Everything here is pure and may allocate freely: it runs on the
//! control side, never on the audio thread. Strudel 1.2.6 is the reference for every
//! semantic detail, down to the seeded random choices.

pub mod budget;
pub mod controls;
mod core;
pub mod euclid;
pub mod mini;
mod ops;
pub mod rational;
pub mod signals;
mod span;
mod transform;
pub mod value;

pub use self::core::{
    MAX_BUILD_DEPTH, PatValue, Pattern, State, fastcat, pure, signal, silence, slowcat, slowcat_prime, stack, timecat,
};
pub use mini::{MiniError, mini};
pub use ops::{Align, Pat, PatFn, patternify};
pub use rational::Rational;
pub use span::{Hap, Span};
pub use transform::run;
pub use value::{Value, ValueMap};
