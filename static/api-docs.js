// Starts Swagger UI on /api/docs/ once its bundle has loaded from the CDN. Without it
// the page keeps its note and link to the raw document. A file of its own: the page's
// content security policy allows no inline script.
"use strict";
window.addEventListener("DOMContentLoaded", function () {
  var target = document.getElementById("swagger-ui");
  if (!target || typeof window.SwaggerUIBundle !== "function") {
    return;
  }
  window.SwaggerUIBundle({
    url: target.getAttribute("data-schema-url"),
    domNode: target,
    deepLinking: true,
    // A reference, not a client: requests are made with a token, or browsed in the
    // browsable API with the session.
    supportedSubmitMethods: [],
  });
});
