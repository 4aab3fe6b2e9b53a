/* Arrange mode of the shop editor: drag a row by its ≡ handle (mouse or touch); on drop the
   new order is saved. The ↑/↓ buttons beside it work without this script. Pinned rows move
   only among pinned rows, the others among the others. */
(function () {
  var list = document.querySelector(".curate-list.is-managing");
  var form = document.getElementById("reorder-form");
  if (!list || !form || !window.fetch) return;
  var dragging = null;
  function rows() { return Array.prototype.slice.call(list.querySelectorAll(".curate-row")); }
  function save() {
    var data = new FormData(form);
    rows().forEach(function (row) { data.append("item", row.getAttribute("data-item-id")); });
    fetch(form.action, { method: "POST", body: data, credentials: "same-origin", headers: { "X-Requested-With": "fetch" } })
      .then(function (response) { if (!response.ok) window.location.reload(); })
      .catch(function () { window.location.reload(); });
  }
  list.addEventListener("pointerdown", function (event) {
    var handle = event.target.closest(".drag-handle");
    if (!handle) return;
    event.preventDefault();
    dragging = handle.closest(".curate-row");
    dragging.classList.add("is-dragging");
    handle.setPointerCapture(event.pointerId);
  });
  list.addEventListener("pointermove", function (event) {
    if (!dragging) return;
    var over = document.elementFromPoint(event.clientX, event.clientY);
    var row = over && over.closest(".curate-row");
    if (!row || row === dragging || row.getAttribute("data-pinned") !== dragging.getAttribute("data-pinned")) return;
    var box = row.getBoundingClientRect();
    list.insertBefore(dragging, event.clientY < box.top + box.height / 2 ? row : row.nextSibling);
  });
  function drop() {
    if (!dragging) return;
    dragging.classList.remove("is-dragging");
    dragging = null;
    save();
  }
  list.addEventListener("pointerup", drop);
  list.addEventListener("pointercancel", drop);
})();
