// The rows of the session's list of messages (post_list.rs), built in one call from Rust for
// all the rows a change brings: built with the DOM's calls from Rust, each row crossed into
// JavaScript ten times and decoded five strings, which cost each tab more than the row itself.

/**
 * Builds a row for each of `rows` (JSON text: an array of [id, author, by, text]) as a deep copy
 * of `empty` (`<li><code class="author"></code><span class="text"></span></li>`), puts them all
 * into `list` before `before` (last when null), and returns them in order. Text is set as text,
 * never parsed as markup.
 */
export function buildRows(list, empty, before, rows) {
  const built = [];
  const fragment = list.ownerDocument.createDocumentFragment();
  for (const [id, author, by, text] of JSON.parse(rows)) {
    const row = empty.cloneNode(true);
    row.setAttribute("data-message-id", id);
    row.setAttribute("data-author", author);
    const who = row.firstElementChild;
    who.title = author;
    who.textContent = by;
    row.lastElementChild.textContent = text;
    fragment.append(row);
    built.push(row);
  }
  list.insertBefore(fragment, before);
  return built;
}
