/* Asks before a one-tap action that cannot be undone: a submit button (or a form) with
   data-confirm="question" opens a <dialog>; its confirm button submits with confirmed=1.
   Without this script the server answers the first submit with a confirmation page. */
(function () {
  var dialog, pending;
  function build() {
    dialog = document.createElement("dialog");
    dialog.className = "sheet confirm-dialog";
    dialog.setAttribute("aria-labelledby", "confirm-question");
    dialog.innerHTML = '<p id="confirm-question" class="sheet-title"></p>' +
      '<p class="muted confirm-note"></p><div class="sheet-actions">' +
      '<button type="button" class="btn btn-block btn-danger" data-answer="yes"></button>' +
      '<button type="button" class="btn btn-block btn-secondary" data-answer="no"></button></div>';
    document.body.appendChild(dialog);
    dialog.addEventListener("click", function (event) {
      var answer = event.target.getAttribute("data-answer");
      if (event.target === dialog) answer = "no";  // a tap on the backdrop
      if (!answer) return;
      dialog.close();
      if (answer === "yes" && pending) {
        var hidden = document.createElement("input");
        hidden.type = "hidden"; hidden.name = "confirmed"; hidden.value = "1";
        pending.form.appendChild(hidden);
        if (pending.submitter && pending.form.requestSubmit) pending.form.requestSubmit(pending.submitter);
        else pending.form.submit();
      }
    });
  }
  document.addEventListener("submit", function (event) {
    var form = event.target, submitter = event.submitter || null;
    var source = submitter && submitter.hasAttribute("data-confirm") ? submitter : form;
    var question = source.getAttribute && source.getAttribute("data-confirm");
    if (!question || form.querySelector("input[name=confirmed]") || !window.HTMLDialogElement) return;
    event.preventDefault();
    if (!dialog) build();
    pending = { form: form, submitter: submitter };
    dialog.querySelector("#confirm-question").textContent = question;
    dialog.querySelector(".confirm-note").textContent = source.getAttribute("data-confirm-note") || "";
    dialog.querySelector("[data-answer=yes]").textContent = source.getAttribute("data-confirm-yes") || question;
    dialog.querySelector("[data-answer=no]").textContent = source.getAttribute("data-confirm-no") || "Cancel";
    dialog.showModal();
    dialog.querySelector("[data-answer=no]").focus();
  });
})();
