//! One module per scenario; each adds its lines to the report.

pub mod delta;
pub mod fanout;
pub mod lists;
pub mod memory;
pub mod resume;
pub mod users;
pub mod wire;
