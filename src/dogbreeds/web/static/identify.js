// Identify as soon as a photo is chosen or dropped (without JavaScript, the button does it).
document.querySelectorAll("input[data-autosubmit]").forEach(function (input) {
  input.addEventListener("change", function () {
    if (input.files.length) input.form.submit();
  });
});
