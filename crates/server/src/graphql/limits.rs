//! The limits of a GraphQL request, and the answer budget its listing
//! fields share.

use std::sync::Arc;

/// Limits of a GraphQL request.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub depth: usize,
    pub complexity: usize,
    pub batch: usize,
    /// Largest `limit` of a listing.
    pub max_limit: u32,
    /// Bytes of tasks one request may answer with ([`AnswerBudget`]).
    pub answer_bytes: usize,
    /// Longest query text (`TASKSYNC_GRAPHQL_MAX_QUERY_BYTES`).
    pub query_bytes: usize,
    /// Most selections of a document once its fragments are expanded
    /// (`TASKSYNC_GRAPHQL_MAX_SELECTIONS`).
    pub selections: usize,
    /// Most root fields of one request, batches included
    /// (`TASKSYNC_GRAPHQL_MAX_ROOT_FIELDS`).
    pub root_fields: usize,
    /// Members per list and lists per user (`TASKSYNC_MAX_LIST_MEMBERS`,
    /// `TASKSYNC_MAX_LISTS_PER_USER`).
    pub lists: tasksync_core::ListLimits,
}

/// What is left of the bytes of tasks one request may answer with
/// (`TASKSYNC_GRAPHQL_MAX_ANSWER_BYTES`), shared by the listing fields of
/// all its operations: each takes what is left, reads pages within it, and
/// gives back what it did not use. Without it, one request of 50 full syncs
/// of 10 KB tasks would read and answer half a gigabyte.
#[derive(Debug, Clone)]
pub struct AnswerBudget(Arc<std::sync::atomic::AtomicUsize>);

impl AnswerBudget {
    pub fn new(bytes: usize) -> Self {
        Self(Arc::new(std::sync::atomic::AtomicUsize::new(bytes)))
    }

    /// Takes all that is left (0 when another field holds it: that field's
    /// page then holds one task).
    pub fn take(&self) -> usize {
        self.0.swap(0, std::sync::atomic::Ordering::AcqRel)
    }

    /// Gives back bytes taken and not used.
    pub fn give_back(&self, bytes: usize) {
        self.0.fetch_add(bytes, std::sync::atomic::Ordering::AcqRel);
    }
}

/// Bytes of query text that cost one more unit of the rate limit, paid
/// before the text is parsed (parsing is the work a refused document
/// still costs); shorter documents, the ones clients send over and over,
/// cost nothing more.
pub const QUERY_BYTES_PER_UNIT: usize = 4096;

/// Bytes of an HTTP body that cost one more unit, paid before the body is
/// read as JSON, on top of the one every request pays.
pub const BODY_BYTES_PER_UNIT: usize = 16 * 1024;
