/* The product form's "Set all" fills every row at once (the button posts the form without
   this script, which does the same on the server). */
(function () {
  var button = document.querySelector("[data-bulk]");
  if (!button) return;
  button.addEventListener("click", function (event) {
    event.preventDefault();
    ["price", "stock"].forEach(function (cell) {
      var value = document.getElementById("bulk_" + cell).value.trim();
      if (!value) return;
      document.querySelectorAll("input[data-cell=" + cell + "]").forEach(function (input) {
        input.value = value;
      });
    });
  });
})();
