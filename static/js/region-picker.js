/* The address picker: <div data-region-picker data-url="/regions/{code}.json"> holding the
   province, city and district <select>s. Choosing a province fetches its cities and districts
   once (a few KB, cached by the browser for a day) and fills the next select; the no-script
   "Next" button is hidden. Without this script the button sends the form back and the server
   fills the next level in. */
(function () {
  var cache = {};
  function fill(select, rows, placeholder) {
    select.options.length = 0;
    select.add(new Option(placeholder, ""));
    rows.forEach(function (row) { select.add(new Option(row[1], row[0])); });
    select.disabled = rows.length === 0;
    select.closest(".field").hidden = rows.length === 0;
  }
  function load(picker, code) {
    if (cache[code]) return Promise.resolve(cache[code]);
    var url = picker.getAttribute("data-url").replace("{code}", code);
    return fetch(url, { credentials: "same-origin" }).then(function (r) {
      if (!r.ok) throw new Error(r.status);
      return r.json();
    }).then(function (tree) { cache[code] = tree; return tree; });
  }
  function setup(picker) {
    var province = picker.querySelector("select[name=province]");
    var city = picker.querySelector("select[name=city]");
    var district = picker.querySelector("select[name=district]");
    var placeholder = picker.getAttribute("data-placeholder") || "";
    // Taken out (not just hidden), so Enter in a field sends the form's own button.
    var next = picker.querySelector("[data-pick-next]");
    var spot = next && next.nextSibling;
    if (next) next.remove();
    function fallBack() { if (next && !next.isConnected) picker.insertBefore(next, spot); }
    province.addEventListener("change", function () {
      fill(city, [], placeholder); fill(district, [], placeholder);
      if (!province.value) return;
      load(picker, province.value).then(function (tree) {
        fill(city, tree.c, placeholder);
        city.closest(".field").hidden = tree.c.length === 0;
      }).catch(fallBack);
    });
    city.addEventListener("change", function () {
      var code = province.value;
      if (!code || !cache[code]) { fill(district, [], placeholder); return; }
      fill(district, cache[code].d[city.value] || [], placeholder);
    });
    [city, district].forEach(function (select) {
      if (select.options.length <= 1) select.closest(".field").hidden = true;
    });
    if (province.value) load(picker, province.value).catch(function () {});
  }
  document.querySelectorAll("[data-region-picker]").forEach(setup);
})();
