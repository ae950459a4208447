//! The cache of parsed query documents, and the size checks a document
//! passes once, before it is remembered.

use super::size;

/// Parsed query documents by their text, with their root fields. Clients
/// send the same few documents over and over; cloning a parsed one is much
/// cheaper than parsing it again. Bounded: emptied when full. Only
/// documents within the selection limit are remembered. Documents too long
/// to remember are parsed on the blocking pool, one at a time, so parsing
/// the longest ones allowed never holds up the threads that serve
/// everyone else.
#[derive(Debug)]
pub struct Documents {
    parsed: std::sync::Mutex<std::collections::HashMap<String, Parsed>>,
    long: tokio::sync::Semaphore,
}

impl Default for Documents {
    fn default() -> Self {
        Self {
            parsed: Default::default(),
            long: tokio::sync::Semaphore::new(1),
        }
    }
}

/// A document and its root fields ([`size::root_fields`]).
type Parsed = (async_graphql::parser::types::ExecutableDocument, usize);

/// Documents remembered at most, and the longest one remembered.
const DOCUMENTS: usize = 512;
const DOCUMENT_MAX_LEN: usize = 4096;

impl Documents {
    /// Gives `request` its parsed document from the cache, or parses it,
    /// refuses it if it selects more than `max_selections` fields once its
    /// fragments are expanded or nests too deep ([`size::check`]), and
    /// remembers it. Answers the document's root fields: what the request
    /// costs against the rate limit. Documents that do not parse are left
    /// to the executor, which reports the error (and cost 0 here).
    pub async fn prepare(
        &self,
        request: &mut async_graphql::Request,
        max_selections: usize,
    ) -> Result<usize, size::Refused> {
        let checked = if request.query.len() <= DOCUMENT_MAX_LEN {
            if let Some((doc, roots)) = self.lock().get(&request.query).cloned() {
                request.set_parsed_query(doc);
                return Ok(roots);
            }
            size::check(&request.query, max_selections)?
        } else {
            // Closed never; a failed acquire would only mean no queue.
            let _turn = self.long.acquire().await.ok();
            let query = request.query.clone();
            match tokio::task::spawn_blocking(move || size::check(&query, max_selections)).await {
                Ok(checked) => checked?,
                // The parser panicked: as it would have here.
                Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
                // Shutting down: left to the executor.
                Err(_) => None,
            }
        };
        let Some(doc) = checked else {
            return Ok(0);
        };
        let roots = size::root_fields(&doc);
        if request.query.len() <= DOCUMENT_MAX_LEN {
            let mut parsed = self.lock();
            if parsed.len() >= DOCUMENTS {
                parsed.clear();
            }
            parsed.insert(request.query.clone(), (doc.clone(), roots));
        }
        request.set_parsed_query(doc);
        Ok(roots)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<String, Parsed>> {
        self.parsed.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn documents_are_parsed_once_and_the_cache_stays_bounded() {
        let documents = super::Documents::default();
        let mut request = async_graphql::Request::new("{ tasks { items { id } } }");
        documents.prepare(&mut request, 100).await.expect("small");
        assert!(
            request.parsed_query().is_ok(),
            "a valid document is handed over parsed"
        );
        let mut again = async_graphql::Request::new("{ tasks { items { id } } }");
        documents.prepare(&mut again, 100).await.expect("small");
        assert_eq!(documents.lock().len(), 1, "the same text is parsed once");
        let mut broken = async_graphql::Request::new("{ tasks { ");
        documents
            .prepare(&mut broken, 100)
            .await
            .expect("left to the executor");
        assert!(
            broken.parsed_query().is_err(),
            "a broken document is left for the executor to report"
        );
        for i in 0..(super::DOCUMENTS + 10) {
            documents
                .prepare(
                    &mut async_graphql::Request::new(format!("{{ t{i}: tasks {{ nextToken }} }}")),
                    100,
                )
                .await
                .expect("small");
        }
        assert!(documents.lock().len() <= super::DOCUMENTS, "bounded");
        let mut big =
            async_graphql::Request::new("{ a: tasks { nextToken } b: tasks { nextToken } }");
        assert!(
            documents.prepare(&mut big, 3).await.is_err(),
            "4 selections over a limit of 3"
        );
        assert!(
            !documents.lock().contains_key(&big.query),
            "a refused document is not remembered"
        );
        let mut two =
            async_graphql::Request::new("{ a: tasks { nextToken } b: tasks { nextToken } }");
        assert_eq!(
            documents.prepare(&mut two, 100).await,
            Ok(2),
            "two root fields"
        );
        let mut cached =
            async_graphql::Request::new("{ a: tasks { nextToken } b: tasks { nextToken } }");
        assert_eq!(
            documents.prepare(&mut cached, 100).await,
            Ok(2),
            "remembered with its root fields"
        );
        let fields: Vec<String> = (0..500).map(|i| format!("a{i}: __typename")).collect();
        let long = format!("{{ {} }}", fields.join(" "));
        assert!(long.len() > super::DOCUMENT_MAX_LEN);
        let mut request = async_graphql::Request::new(long.clone());
        assert_eq!(documents.prepare(&mut request, 1000).await, Ok(0));
        assert!(
            request.parsed_query().is_ok(),
            "parsed on the blocking pool"
        );
        assert!(
            !documents.lock().contains_key(&long),
            "too long to remember"
        );
        let mut over = async_graphql::Request::new(long);
        assert!(documents.prepare(&mut over, 499).await.is_err());
    }
}
