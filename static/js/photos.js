/* Photo inputs: <input type="file" data-photos data-max-count="6" data-too-many="...">.
   Phone cameras make 3-8 MB pictures; six of them would exceed the upload limit and the
   person would lose what they typed. So each chosen picture larger than the server needs is
   redrawn at most 1600 px on its longer side as JPEG before the form is sent (the server
   re-encodes and checks everything anyway). Without this script, or in a browser without
   createImageBitmap/DataTransfer, the original files are sent. */
(function () {
  var SIDE = 1600, QUALITY = 0.85, SMALL = 900 * 1024;

  function shrink(file) {
    if (file.size <= SMALL || !/^image\//.test(file.type)) return Promise.resolve(file);
    return createImageBitmap(file).then(function (bitmap) {
      var scale = Math.min(1, SIDE / Math.max(bitmap.width, bitmap.height));
      var canvas = document.createElement("canvas");
      canvas.width = Math.round(bitmap.width * scale);
      canvas.height = Math.round(bitmap.height * scale);
      canvas.getContext("2d").drawImage(bitmap, 0, 0, canvas.width, canvas.height);
      return new Promise(function (resolve) {
        canvas.toBlob(function (blob) {
          if (!blob || blob.size >= file.size) return resolve(file);
          var name = file.name.replace(/\.[^.]*$/, "") + ".jpg";
          resolve(new File([blob], name, { type: "image/jpeg" }));
        }, "image/jpeg", QUALITY);
      });
    }).catch(function () { return file; });
  }

  function handle(input) {
    var form = input.form, note = document.getElementById(input.id + "-note");
    var max = parseInt(input.getAttribute("data-max-count") || "0", 10);
    var files = Array.prototype.slice.call(input.files || []);
    if (note) note.textContent = "";
    if (max && files.length > max) {
      input.value = "";
      if (note) note.textContent = input.getAttribute("data-too-many") || "";
      return;
    }
    if (!window.createImageBitmap || !window.DataTransfer || !files.length) return;
    var buttons = form ? form.querySelectorAll("button[type=submit]") : [];
    Array.prototype.forEach.call(buttons, function (b) { b.disabled = true; });
    Promise.all(files.map(shrink)).then(function (smaller) {
      var transfer = new DataTransfer();
      smaller.forEach(function (f) { transfer.items.add(f); });
      input.files = transfer.files;
    }).catch(function () { /* keep the originals */ }).then(function () {
      Array.prototype.forEach.call(buttons, function (b) { b.disabled = false; });
    });
  }

  document.addEventListener("change", function (event) {
    if (event.target.matches && event.target.matches("input[type=file][data-photos]")) {
      handle(event.target);
    }
  });
})();
