/* SMS code forms: the "Get code" button counts down (data-countdown seconds, set by the page
   after a send), and six digits typed in the code field send the form (data-autosubmit) with
   its main button. Without this file the form works the same with one more tap. */
(function () {
  function countdown(button) {
    var left = parseInt(button.getAttribute("data-countdown"), 10);
    if (!(left > 0)) return;
    var label = button.textContent;
    var wait = button.getAttribute("data-wait-label") || "{n}";
    button.disabled = true;
    var tick = function () {
      if (left <= 0) {
        button.disabled = false;
        button.textContent = label;
        return;
      }
      button.textContent = wait.replace("{n}", left);
      left -= 1;
      setTimeout(tick, 1000);
    };
    tick();
  }
  function mainButton(form) {
    return form.querySelector("button[type=submit]:not(.send-code)");
  }
  function watch(form) {
    var field = form.querySelector("input[autocomplete=one-time-code]");
    if (!field) return;
    // Tells the server a "Get code" press came from the button (see wants_send).
    var marker = document.createElement("input");
    marker.type = "hidden";
    marker.name = "js";
    marker.value = "1";
    form.appendChild(marker);
    var sent = false;
    field.addEventListener("input", function () {
      var digits = field.value.replace(/\D/g, "");
      if (form.hasAttribute("data-autosubmit") && digits.length === 6 && !sent) {
        sent = true;
        form.requestSubmit(mainButton(form));
      }
    });
    field.addEventListener("keydown", function (event) {
      if (event.key === "Enter") {
        event.preventDefault();
        form.requestSubmit(mainButton(form));
      }
    });
  }
  document.querySelectorAll("button[data-countdown]").forEach(function (button) {
    countdown(button);
    // A code is on its way: the next thing to type is the code.
    var field = button.form && button.form.querySelector("input[autocomplete=one-time-code]");
    if (field && !field.value) field.focus();
  });
  document.querySelectorAll("form").forEach(watch);
})();
