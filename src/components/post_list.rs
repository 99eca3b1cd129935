//! The open session's list of messages, drawn by hand: every tab draws every message every tab
//! writes, so a row's cost is paid five times over with five tabs. Built through Leptos (an
//! owner, a view and its attributes per row) a row was most of what a tab spent on a message
//! it did not write; here it is a copy of an empty row given its id, author and text, all the
//! rows a change brings built in one call into JavaScript (`post_list.js`), and a change moves
//! only the rows that came or went.
//!
//! The list scrolls in a pane of its own, which shows the latest message and keeps showing the
//! latest as others come, unless the person scrolled up to read earlier ones. The page around
//! it does not grow with the list: when it did, everything below the list moved at every
//! message, and the tab in front painted and rastered most of its window again each time.

use std::collections::{BTreeMap, BTreeSet};

use conclave_web::ItemId;
use leptos::html::{Div, Ol};
use leptos::prelude::*;
use wasm_bindgen::prelude::wasm_bindgen;
use wasm_bindgen::JsValue;
use web_sys::Element;

use crate::view_model::PostRow;

/// A pane (`role="region"`, named "Messages", reached by Tab so that a keyboard can scroll it)
/// holding an `<ol class="posts">` whose rows are `posts`' rows, oldest first: each an
/// `<li data-testid="message" data-message-id data-author>` holding the author, short, as a
/// `<code class="author">` (titled with the whole id) and the text, as text, never markup, in a
/// `<span class="text">`. A message never changes, so each row is built once. While the pane
/// shows its last row (as it does when it opens), it is scrolled to the last row again at the
/// next frame after each change.
#[component]
pub fn PostList(
    /// How many messages match (not used here), and the rows of the latest of them, oldest
    /// first, each message once.
    posts: Memo<(usize, Vec<PostRow>)>,
) -> impl IntoView {
    let pane = NodeRef::<Div>::new();
    let list = NodeRef::<Ol>::new();
    let drawn = StoredValue::new_local(Drawn::default());
    // Whether the pane follows the latest row, whether a scroll to it waits for a frame, and
    // where the last such scroll left it (its own scroll event says nothing of the person).
    let follow = StoredValue::new(Follow {
        on: true,
        due: false,
        at: None,
    });
    Effect::new(move |_| {
        let Some(ol) = list.get() else { return };
        posts.with(|(_, rows)| {
            drawn.update_value(|drawn| {
                if let Err(error) = drawn.show(&ol, rows) {
                    web_sys::console::warn_2(&"conclave: messages not drawn:".into(), &error);
                }
            });
        });
        let schedule = follow.with_value(|f| f.on && !f.due);
        if schedule {
            follow.update_value(|f| f.due = true);
            // At the next frame, whose layout places the new rows anyway: reading the
            // pane's height now would lay the page out once more for each change.
            request_animation_frame(move || {
                // The person may have scrolled up since (the frame's scroll event comes first).
                let on = follow.try_update_value(|f| {
                    f.due = false;
                    f.on
                });
                // The list may be gone by the frame (another session opened): no panic then.
                let pane = pane.try_get_untracked().flatten();
                let Some(pane) = pane.filter(|_| on == Some(true)) else {
                    return;
                };
                pane.set_scroll_top(pane.scroll_height());
                let at = pane.scroll_top();
                let _ = follow.try_update_value(|f| f.at = Some(at));
            });
        }
    });
    // A person scrolling up stops the following; back at the last row, it follows again.
    let scrolled = move |_| {
        let Some(pane) = pane.try_get_untracked().flatten() else {
            return;
        };
        let top = pane.scroll_top();
        let last = top + pane.client_height() + 2 >= pane.scroll_height();
        follow.update_value(|f| {
            if f.at != Some(top) {
                f.on = last;
            }
        });
    };
    view! {
        <div
            class="post-pane"
            role="region"
            aria-label="Messages"
            tabindex="0"
            data-testid="message-pane"
            node_ref=pane
            on:scroll=scrolled
        >
            <ol class="posts" data-testid="messages" node_ref=list></ol>
        </div>
    }
}

/// Whether the pane follows its latest row ([`PostList`]).
#[derive(Clone, Copy)]
struct Follow {
    /// It does (as it opens, and whenever the person scrolls back to the last row).
    on: bool,
    /// A scroll to the last row waits for the next frame.
    due: bool,
    /// Where the latest such scroll left the pane: a scroll event there is the pane's own.
    at: Option<i32>,
}

/// The rows in the list now, in its order: the list's children, each with its message's id;
/// and an empty row, made once, that each row is a copy of.
#[derive(Default)]
struct Drawn {
    rows: Vec<(ItemId, Element)>,
    empty: Option<Element>,
}

impl Drawn {
    /// Makes the list show `rows`: the rows no longer wanted leave, the new ones are built and
    /// go in before the next row that stays (or last), and those that stay are not touched
    /// unless their order changed. The common change, the oldest rows going and new ones
    /// coming last, costs what comes and goes ([`Drawn::follow`]).
    fn show(&mut self, list: &Element, rows: &[PostRow]) -> Result<(), JsValue> {
        if self.follow(list, rows)? {
            return Ok(());
        }
        let wanted: BTreeSet<ItemId> = rows.iter().map(|row| row.id).collect();
        // The rows that stay, with their place among those that stay.
        let mut staying = BTreeMap::new();
        for (id, element) in self.rows.drain(..) {
            if wanted.contains(&id) && !staying.contains_key(&id) {
                let place = staying.len();
                staying.insert(id, (place, element));
            } else {
                element.remove();
            }
        }
        // Those that stay keep their order, unless `rows` moved one (places only grow, so this
        // is for safety): then every row is put in its place.
        let in_order = rows
            .iter()
            .filter_map(|row| staying.get(&row.id).map(|(place, _)| *place))
            .enumerate()
            .all(|(i, place)| i == place);
        let empty = self.empty(list)?;
        let mut shown = Vec::with_capacity(rows.len());
        // From the last: the row after each is known when it goes in.
        let mut next: Option<Element> = None;
        for row in rows.iter().rev() {
            let element = match staying.remove(&row.id) {
                Some((_, element)) if in_order => element,
                Some((_, element)) => {
                    list.insert_before(&element, next.as_deref())?;
                    element
                }
                None => built(build_rows(
                    list,
                    &empty,
                    next.as_ref(),
                    &json(std::slice::from_ref(row))?,
                )?)?,
            };
            next = Some(element.clone());
            shown.push((row.id, element));
        }
        shown.reverse();
        self.rows = shown;
        Ok(())
    }

    /// The common change, in a few steps rather than one a row: the oldest rows go and new
    /// ones come after the rest (a commit heard), or nothing changed. Whether it was that.
    fn follow(&mut self, list: &Element, rows: &[PostRow]) -> Result<bool, JsValue> {
        // The first wanted row's place among those drawn: the rows before it go.
        let gone = match rows.first() {
            Some(first) => match self.rows.iter().position(|(id, _)| *id == first.id) {
                Some(gone) => gone,
                None => return Ok(self.rows.is_empty() && self.add(list, rows)?),
            },
            None => self.rows.len(),
        };
        let staying = self.rows.len() - gone;
        let same = rows.len() >= staying
            && self.rows[gone..]
                .iter()
                .zip(rows)
                .all(|((id, _), row)| *id == row.id);
        // A row that goes and comes back (not a commit heard) is moved, not built again.
        let back = || {
            rows[staying..]
                .iter()
                .any(|row| self.rows[..gone].iter().any(|(id, _)| *id == row.id))
        };
        if !same || back() {
            return Ok(false);
        }
        for (_, element) in self.rows.drain(..gone) {
            element.remove();
        }
        self.add(list, &rows[staying..])
    }

    /// Builds `rows` and puts them after the rest; `true`.
    fn add(&mut self, list: &Element, rows: &[PostRow]) -> Result<bool, JsValue> {
        if rows.is_empty() {
            return Ok(true);
        }
        let empty = self.empty(list)?;
        let elements = build_rows(list, &empty, None, &json(rows)?)?;
        if elements.len() != rows.len() {
            return Err("a row was not built".into());
        }
        self.rows
            .extend(rows.iter().map(|row| row.id).zip(elements));
        Ok(true)
    }

    /// The empty row: `<li data-testid="message"><code class="author"></code><span
    /// class="text"></span></li>`, made the first time it is needed.
    fn empty(&mut self, list: &Element) -> Result<Element, JsValue> {
        if let Some(empty) = &self.empty {
            return Ok(empty.clone());
        }
        let document = list.owner_document().ok_or("the list is in no document")?;
        let li = document.create_element("li")?;
        li.set_attribute("data-testid", "message")?;
        let by = document.create_element("code")?;
        by.set_class_name("author");
        let text = document.create_element("span")?;
        text.set_class_name("text");
        li.append_child(&by)?;
        li.append_child(&text)?;
        self.empty = Some(li.clone());
        Ok(li)
    }
}

#[wasm_bindgen(module = "/src/components/post_list.js")]
extern "C" {
    /// Builds a row for each of `rows` ([`json`]) as a copy of `empty`, puts them into `list`
    /// before `before` (last when `None`), and returns them in order.
    #[wasm_bindgen(js_name = buildRows, catch)]
    fn build_rows(
        list: &Element,
        empty: &Element,
        before: Option<&Element>,
        rows: &str,
    ) -> Result<Vec<Element>, JsValue>;
}

/// `rows` as [`build_rows`] takes them: a JSON array of `[id, author, by, text]`.
fn json(rows: &[PostRow]) -> Result<String, JsValue> {
    let fields: Vec<(String, String, String, &str)> = rows
        .iter()
        .map(|row| {
            (
                row.id.to_string(),
                row.author.to_string(),
                row.by(),
                row.text.as_str(),
            )
        })
        .collect();
    serde_json::to_string(&fields).map_err(|error| error.to_string().into())
}

/// The one row [`build_rows`] built for one.
fn built(mut elements: Vec<Element>) -> Result<Element, JsValue> {
    match (elements.pop(), elements.is_empty()) {
        (Some(element), true) => Ok(element),
        _ => Err("not one row built for one".into()),
    }
}
