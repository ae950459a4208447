//! Administrative commands: `tasksync users …`, `tasksync migrate`,
//! `tasksync backup` and `restore` ([`backup`]), and `tasksync
//! check-config` ([`check_config`]).

pub mod backup;
pub mod check_config;

pub use backup::{backup, restore};
pub use check_config::check_config;

use anyhow::Context as _;
use tasksync_core::Email;

use crate::clock::{now_ms, rfc3339};
use crate::config::{DatabaseArgs, UsersCommand};
use crate::startup::open_store;

/// `tasksync migrate`
pub async fn migrate(db: &DatabaseArgs) -> anyhow::Result<()> {
    open_store(db).await?;
    println!("database is up to date");
    Ok(())
}

/// `tasksync users …`
pub async fn users(db: &DatabaseArgs, command: &UsersCommand) -> anyhow::Result<()> {
    let store = open_store(db).await?;
    let find = |email: &str| {
        let store = store.clone();
        let email = Email::parse(email).map_err(|e| anyhow::anyhow!("{email:?}: {e}"));
        async move {
            let email = email?;
            store
                .user_by_email(&email)
                .await?
                .with_context(|| format!("no account with the address {email}"))
        }
    };
    match command {
        UsersCommand::List => {
            println!(
                "{:<36}  {:<40}  {:<9}  {:<8}  created",
                "id", "email", "confirmed", "disabled"
            );
            for u in store.list_users().await? {
                println!(
                    "{:<36}  {:<40}  {:<9}  {:<8}  {}",
                    u.id.to_string(),
                    u.email.as_str(),
                    if u.confirmed { "yes" } else { "no" },
                    if u.disabled { "yes" } else { "no" },
                    rfc3339(u.created_at)
                );
            }
        }
        UsersCommand::Confirm { email } => {
            let user = find(email).await?;
            store.confirm_user(user.id, now_ms()).await?;
            println!("confirmed {}", user.email);
        }
        UsersCommand::Disable { email } => {
            let user = find(email).await?;
            let ended = store.set_disabled(user.id, true, now_ms()).await?;
            println!(
                "disabled {} and ended {} session(s)",
                user.email,
                ended.len()
            );
        }
        UsersCommand::Enable { email } => {
            let user = find(email).await?;
            store.set_disabled(user.id, false, now_ms()).await?;
            println!("enabled {}", user.email);
        }
    }
    Ok(())
}
