/* Copy buttons: <button data-copy="element-id" data-done="Copied">. Works without it too:
   the text sits in a read-only field a person can select by hand. Inside the share sheet the
   button keeps its label and the sheet's status line says what was copied. */
(function () {
  function copy(button) {
    var field = document.getElementById(button.getAttribute("data-copy"));
    if (!field) return;
    var done = function () {
      var body = button.closest("[data-sheet-body]");
      var status = body && body.querySelector(".sheet-status");
      if (status) { status.textContent = button.getAttribute("data-done") || ""; return; }
      var label = button.textContent;
      button.textContent = button.getAttribute("data-done") || label;
      setTimeout(function () { button.textContent = label; }, 1500);
    };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () { select(field); });
    } else {
      select(field);
      try { if (document.execCommand("copy")) done(); } catch (e) { /* selected for the person */ }
    }
  }
  function select(field) {
    var details = field.closest("details");
    if (details) details.open = true;  // a field in a closed <details> cannot be selected
    field.focus(); field.select(); field.setSelectionRange(0, field.value.length);
  }
  document.addEventListener("click", function (event) {
    var button = event.target.closest("[data-copy]");
    if (button) { event.preventDefault(); copy(button); }
  });
})();
