// Math is typeset in the browser by MathJax 3, served from the site itself
// (javascripts/mathjax/, copied by `make docs` from the django-static-mathjax wheel):
// formulas render offline. Markdown pages mark math with pymdownx.arithmatex (\( \), \[ \]
// inside .arithmatex); notebook pages (.jupyter-wrapper) keep the notebooks' $ ... $ and
// $$ ... $$ (code and outputs, in <pre>/<code>, are skipped).
const notebookPage = document.querySelector(".jupyter-wrapper") !== null;
window.MathJax = notebookPage
  ? {
      tex: {
        inlineMath: [["$", "$"], ["\\(", "\\)"]],
        displayMath: [["$$", "$$"], ["\\[", "\\]"]],
        processEscapes: true,
      },
    }
  : {
      tex: { inlineMath: [["\\(", "\\)"]], displayMath: [["\\[", "\\]"]], processEscapes: true },
      options: { ignoreHtmlClass: ".*|", processHtmlClass: "arithmatex" },
    };
