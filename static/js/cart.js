/* The cart: a spec chosen from a line's list is saved at once, and a quantity typed is saved
   when the field is left (the page works without this: each form has its own button). */
(function () {
  document.querySelectorAll("select[data-autosubmit]").forEach(function (select) {
    var button = select.form.querySelector("button[value=spec]");
    if (button) button.hidden = true;
    select.addEventListener("change", function () {
      if (select.form.requestSubmit) select.form.requestSubmit(button); else select.form.submit();
    });
  });
  document.querySelectorAll(".cart-qty input[name=quantity]").forEach(function (input) {
    var start = input.value;
    input.addEventListener("change", function () {
      if (input.value !== start) input.form.submit();
    });
  });
})();
