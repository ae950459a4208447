//! Integration tests of the tasksync server: a real server on port 0 with a
//! fresh SQLite file, called over real HTTP.

mod accounts;
mod attacks;
mod binary;
mod cost;
mod forge;
mod graphql;
mod helpers;
mod lifecycle;
mod limits;
mod lists;
mod lists_model;
mod load;
mod mail;
mod matrix;
mod multinode;
mod ops;
mod ops_cli;
mod queries;
mod restart;
mod review;
mod ring;
mod rolling;
mod sync;
mod tidy;
mod tokens;
mod ws;
mod ws_client;
