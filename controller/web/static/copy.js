// Dockyard GUI: a Copy button after each element marked `data-copyable` (remotes, webhook URLs,
// secrets, deploy keys). Added by script, so a page without JavaScript shows no dead button;
// there the text is selectable as it is.
(function () {
  "use strict";

  function copyText(element) {
    var text = element.value !== undefined ? element.value : element.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      return navigator.clipboard.writeText(text.trim());
    }
    var range = document.createRange();
    range.selectNodeContents(element);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    document.execCommand("copy");
    return Promise.resolve();
  }

  function addButton(element) {
    var button = document.createElement("button");
    button.type = "button";
    button.className = "copy";
    button.textContent = "Copy";
    var what = element.getAttribute("data-copyable");
    button.setAttribute("aria-label", "Copy " + what);
    button.addEventListener("click", function () {
      copyText(element).then(function () {
        button.textContent = "Copied";
        setTimeout(function () { button.textContent = "Copy"; }, 2000);
      });
    });
    element.insertAdjacentElement("afterend", button);
  }

  function start() {
    document.querySelectorAll("[data-copyable]").forEach(addButton);
  }

  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
