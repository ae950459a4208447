//! The task documents tests send, selecting every field of a task.

const FIELDS: &str = "id title description done owner listId createdAt updatedAt version deleted";

pub fn task_q() -> String {
    format!("query($id: ID!) {{ task(id: $id) {{ {FIELDS} }} }}")
}
pub fn create_q() -> String {
    format!("mutation($input: CreateTaskInput!) {{ createTask(input: $input) {{ {FIELDS} }} }}")
}
pub fn update_q() -> String {
    format!("mutation($input: UpdateTaskInput!) {{ updateTask(input: $input) {{ {FIELDS} }} }}")
}
pub fn delete_q() -> String {
    format!("mutation($input: DeleteTaskInput!) {{ deleteTask(input: $input) {{ {FIELDS} }} }}")
}
pub fn tasks_q() -> String {
    format!(
        "query($limit: Int, $next: String) {{ tasks(limit: $limit, nextToken: $next) {{ items {{ {FIELDS} }} nextToken }} }}"
    )
}
pub fn sync_q() -> String {
    format!(
        "query($last: String, $limit: Int, $next: String) {{ syncTasks(lastSync: $last, limit: $limit, nextToken: $next) {{ items {{ {FIELDS} }} nextToken cursor fullSync }} }}"
    )
}
