mod config;
mod directory;
mod error;
mod keys;
mod model;
mod secrets;
mod store;
fn main() {}
