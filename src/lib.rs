//! service-precheck as a library: the pieces `main` wires together, public so that tests (the
//! examples checker, for one) parse arguments with the very code the binary runs.

pub mod alloc;
pub mod cli;
pub mod duration;
pub mod exec;
pub mod exit;
pub mod json;
pub mod logging;
pub mod memory;
pub mod output;
pub mod panic;
pub mod plan;
pub mod probe;
pub mod quote;
pub mod runner;
pub mod selftest;
pub mod signals;
pub mod sweep;
pub mod target;
pub mod termination;
pub mod verdict;
