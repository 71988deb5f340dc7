// The queue board follows its queue over server-sent events: no reload.
(function () {
  var board = document.getElementById("board");
  if (!board || !window.EventSource) { return; }
  var source = new EventSource(board.getAttribute("data-events"));
  source.addEventListener("board", function (event) {
    board.innerHTML = event.data;
    if (window.htmx) { window.htmx.process(board); }  // the rows' call buttons
  });
})();
