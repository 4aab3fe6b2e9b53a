/* The share sheet as a bottom sheet: a link with data-sheet opens its page's sheet in a
   <dialog> (fetched with ?partial=1). Without this script, or without <dialog>, the link
   opens the same sheet as a page. Focus moves into the sheet and back to the link on close. */
(function () {
  if (!window.HTMLDialogElement || !window.fetch) return;
  var dialog, opener;
  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "sheet";
    dialog.setAttribute("aria-labelledby", "sheet-title");
    dialog.addEventListener("click", function (event) {
      if (event.target === dialog || event.target.closest("[data-sheet-close]")) dialog.close();
    });
    dialog.addEventListener("close", function () { if (opener) opener.focus(); });
    document.body.appendChild(dialog);
  }
  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-sheet]");
    if (!link || event.defaultPrevented || event.button !== 0 || event.metaKey || event.ctrlKey) return;
    event.preventDefault();
    opener = link;
    var url = link.href + (link.href.indexOf("?") < 0 ? "?" : "&") + "partial=1";
    fetch(url, { credentials: "same-origin" })
      .then(function (response) {
        if (!response.ok || response.redirected) throw new Error(response.status);
        return response.text();
      })
      .then(function (html) {
        if (!dialog) build();
        var close = document.documentElement.lang.indexOf("zh") === 0 ? "关闭" : "Close";
        dialog.innerHTML = html + '<button type="button" class="btn btn-secondary btn-block sheet-close" data-sheet-close>' + close + "</button>";
        dialog.showModal();
        var first = dialog.querySelector(".sheet-action");
        if (first) first.focus();
      })
      .catch(function () { window.location.href = link.href; });  // the page works the same
  });
})();
