//! `UserObject`: one SQLite-backed Durable Object per user ([`ObjectName::user`]), the single
//! writer of the user's tab directory and history index. Decode a [`UserCall`] → run the
//! [`crate::chat::User`] core → answer. A search first asks the tabs that are ahead of the index
//! for their unindexed messages (paging through all of them, up to a documented bound), then
//! ranks them with the indexed ones.

use std::cell::RefCell;

use worker::{durable_object, DurableObject, Env, Request, Response, State};

use crate::api::ErrorCode;
use crate::assistant::quota::DailyUsage;
use crate::calls::tab::Unindexed;
use crate::calls::user::{UserCall, WorkspaceEntries};
use crate::calls::{Encoded, ObjectName};
use crate::chat::model::MAX_PAGE_LIMIT;
use crate::chat::user::history_doc;
use crate::chat::User;
use crate::search::history::HistoryDoc;
use crate::workspace::registry;

use super::super::error::ApiError;
use super::super::log;
use super::super::storage::SqlKv;
use super::{answer, decode, respond, send};

/// Unindexed messages a search takes from one tab at most. A tab is normally at most one flush
/// batch ahead of the index (≤ `FLUSH_MAX_PENDING`); a larger backlog means the index is failing,
/// and the search says so in the log instead of reading without bound.
const MAX_UNINDEXED_PER_TAB: usize = 2_000;

struct Loaded {
    kv: SqlKv,
    user: User,
}

impl Loaded {
    /// Records a tab's soft directory update (memory only).
    fn touch(&mut self, touch: &crate::calls::user::Touch) -> Result<(), crate::chat::ChatError> {
        self.user.touch(
            &self.kv,
            &touch.tab_id,
            touch.message_count,
            touch.updated_ms,
        )
    }
}

#[durable_object]
pub struct UserObject {
    state: State,
    env: Env,
    loaded: RefCell<Option<Loaded>>,
}

impl UserObject {
    fn with<T>(&self, f: impl FnOnce(&mut Loaded) -> Result<T, ApiError>) -> Result<T, ApiError> {
        let mut slot = self.loaded.borrow_mut();
        if slot.is_none() {
            // The object's one store for its life: its read cache stays coherent.
            let kv = SqlKv::open(self.state.storage().sql())?.with_read_cache();
            let user = User::load(&kv)?;
            *slot = Some(Loaded { kv, user });
        }
        match slot.as_mut() {
            Some(loaded) => f(loaded),
            None => Err(ApiError::internal("user state missing after load")),
        }
    }

    fn save_stats(kv: &mut SqlKv) {
        if let Err(err) = kv.save_stats() {
            log::event(
                "user_stats_save_failed",
                serde_json::json!({ "error": err.to_string() }),
            );
        }
    }

    async fn handle(&self, call: UserCall) -> Result<Response, ApiError> {
        match call {
            UserCall::CreateTab(create) => {
                let meta = self.with(|l| {
                    let meta = l.user.create_tab(&mut l.kv, &create.record)?;
                    Self::save_stats(&mut l.kv);
                    Ok(meta)
                })?;
                answer(meta)
            }
            UserCall::CanCreateTab(_) => {
                self.with(|l| Ok(l.user.can_create_tab(&l.kv)?))?;
                answer(())
            }
            UserCall::ListTabs(list) => {
                let page =
                    self.with(|l| Ok(l.user.list_tabs(&l.kv, list.limit, list.cursor)?))?;
                answer(Encoded::new(&page)?)
            }
            UserCall::GetTab(get) => {
                let meta = self.with(|l| Ok(l.user.get_tab(&l.kv, &get.tab_id)?))?;
                answer(Encoded::new(&meta)?)
            }
            UserCall::RenameTab(rename) => {
                let meta = self.with(|l| {
                    let meta = l.user.rename_tab(
                        &mut l.kv,
                        &rename.tab_id,
                        rename.title,
                        rename.now_ms,
                    )?;
                    Self::save_stats(&mut l.kv);
                    Ok(meta)
                })?;
                answer(Encoded::new(&meta)?)
            }
            UserCall::Touch(touch) => {
                self.with(|l| Ok(l.touch(&touch)?))?;
                answer(())
            }
            UserCall::RemoveTab(remove) => {
                self.with(|l| {
                    l.user.remove_tab(&mut l.kv, &remove.tab_id)?;
                    Self::save_stats(&mut l.kv);
                    Ok(())
                })?;
                answer(())
            }
            UserCall::Index(batch) => {
                self.with(|l| {
                    l.user.index(
                        &mut l.kv,
                        &batch.tab_id,
                        &batch.messages,
                        batch.message_count,
                        batch.indexed_through,
                        batch.updated_ms,
                    )?;
                    Self::save_stats(&mut l.kv);
                    Ok(())
                })?;
                answer(())
            }
            UserCall::AddRun(add) => {
                self.with(|l| {
                    l.user.add_run(&mut l.kv, &add.run_id, add.now_ms)?;
                    Self::save_stats(&mut l.kv);
                    Ok(())
                })?;
                answer(())
            }
            UserCall::ReserveTokens(reserve) => {
                self.with(|l| {
                    let mut usage = DailyUsage::load(&l.kv)?;
                    usage
                        .reserve(
                            &reserve.reply_id,
                            reserve.tokens,
                            reserve.limit,
                            reserve.now_ms,
                        )
                        .map_err(|err| ApiError {
                            retry_after_secs: err.retry_after_s(),
                            ..ApiError::from(err)
                        })?;
                    usage.save(&mut l.kv)?;
                    Self::save_stats(&mut l.kv);
                    if let Some(touch) = &reserve.touch {
                        // A soft update: a tab missing from the directory does not undo the
                        // admission (its next flush records the tab's real state).
                        if let Err(err) = l.touch(touch) {
                            log::event(
                                "directory_touch_failed",
                                serde_json::json!({ "message": err.to_string() }),
                            );
                        }
                    }
                    Ok(())
                })?;
                answer(())
            }
            UserCall::ReleaseTokens(release) => {
                self.with(|l| {
                    let mut usage = DailyUsage::load(&l.kv)?;
                    usage.release(&release.reply_id, release.now_ms);
                    usage.save(&mut l.kv)?;
                    Ok(())
                })?;
                answer(())
            }
            UserCall::SettleTokens(settle) => {
                self.with(|l| {
                    let mut usage = DailyUsage::load(&l.kv)?;
                    if usage.settle(
                        &settle.reply_id,
                        settle.prompt_tokens,
                        settle.completion_tokens,
                        settle.now_ms,
                    ) {
                        usage.save(&mut l.kv)?;
                    }
                    Ok(())
                })?;
                answer(())
            }
            UserCall::GetUsage(get) => {
                let view =
                    self.with(|l| Ok(DailyUsage::load(&l.kv)?.view(get.limit, get.now_ms)))?;
                answer(Encoded::new(&view)?)
            }
            UserCall::AddWorkspace(add) => {
                self.with(|l| {
                    registry::add(&mut l.kv, &add.entry)?;
                    Self::save_stats(&mut l.kv);
                    Ok(())
                })?;
                answer(())
            }
            UserCall::RemoveWorkspace(remove) => {
                self.with(|l| {
                    registry::remove(&mut l.kv, &remove.id)?;
                    Self::save_stats(&mut l.kv);
                    Ok(())
                })?;
                answer(())
            }
            UserCall::ListWorkspaces(_) => {
                let entries = self.with(|l| Ok(registry::list(&l.kv)?))?;
                answer(WorkspaceEntries(entries))
            }
            UserCall::RemoveRun(remove) => {
                self.with(|l| {
                    l.user.remove_run(&mut l.kv, &remove.run_id)?;
                    Self::save_stats(&mut l.kv);
                    Ok(())
                })?;
                answer(())
            }
            UserCall::Search(search) => {
                let behind = self.with(|l| {
                    Ok(l.user.tabs_behind_index(
                        &l.kv,
                        search.tab.as_deref(),
                        search.skip_unindexed_of.as_deref(),
                    )?)
                })?;
                // One after another: a user rarely has more than one tab behind (each is at most
                // one flush ahead of the index).
                let mut extra: Vec<HistoryDoc> = Vec::new();
                for (tab_id, _) in behind {
                    extra.extend(self.unindexed_of(&search.user, &tab_id).await?);
                }
                let results = self.with(|l| {
                    Ok(l.user.search(
                        &l.kv,
                        &search.q,
                        search.tab.as_deref(),
                        search.limit,
                        &extra,
                    )?)
                })?;
                answer(Encoded::new(&results)?)
            }
        }
    }

    /// `tab_id`'s unindexed messages, read page by page.
    async fn unindexed_of(&self, user: &str, tab_id: &str) -> Result<Vec<HistoryDoc>, ApiError> {
        let mut into = Vec::new();
        let name = ObjectName::tab(user, tab_id)?;
        let mut after = 0;
        let mut taken = 0;
        loop {
            let page = match send(
                &self.env,
                &name,
                Unindexed {
                    after,
                    limit: MAX_PAGE_LIMIT,
                },
            )
            .await
            {
                Ok(page) => page,
                // Deleted meanwhile: nothing to add.
                Err(err) if err.code == ErrorCode::NotFound => return Ok(into),
                Err(err) => return Err(err),
            };
            taken += page.messages.len();
            into.extend(page.messages.iter().map(|m| history_doc(tab_id, m)));
            match page.messages.last() {
                Some(last) if page.more && taken < MAX_UNINDEXED_PER_TAB => after = last.seq,
                Some(_) if page.more => {
                    log::event(
                        "search_unindexed_truncated",
                        serde_json::json!({ "tab": tab_id, "taken": taken }),
                    );
                    return Ok(into);
                }
                _ => return Ok(into),
            }
        }
    }
}

impl DurableObject for UserObject {
    fn new(state: State, env: Env) -> Self {
        Self {
            state,
            env,
            loaded: RefCell::new(None),
        }
    }

    async fn fetch(&self, mut req: Request) -> worker::Result<Response> {
        let result = match decode::<UserCall>(&mut req).await {
            Ok(call) => self.handle(call).await,
            Err(err) => Err(err),
        };
        respond(result)
    }
}
