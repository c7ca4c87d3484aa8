// Starts Swagger UI on /docs (a file, not an inline script: the page's CSP allows no inline code).
const root = document.getElementById("swagger-ui");
window.ui = window.SwaggerUIBundle({
  url: root.dataset.spec,
  domNode: root,
  deepLinking: true,
  presets: [window.SwaggerUIBundle.presets.apis],
  layout: "BaseLayout",
});
