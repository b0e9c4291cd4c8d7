// Python projects for the fixture index's build back ends.

/** The PEP 517 back ends a project may name, and what its build-system table says for each. */
export const backends: Record<string, { requires: string; backend: string; extra?: string }> = {
  setuptools: { requires: "setuptools", backend: "setuptools.build_meta" },
  hatchling: { requires: "hatchling", backend: "hatchling.build" },
  "poetry-core": { requires: "poetry-core", backend: "poetry.core.masonry.api" },
  flit: { requires: "flit_core", backend: "flit_core.buildapi" },
  pdm: { requires: "pdm-backend", backend: "pdm.backend" },
};

/** A project named jobtool with a console script, built by the given back end. */
export function project(name: string): Record<string, string> {
  const { requires, backend } = backends[name]!;
  return {
    "pyproject.toml": [
      "[build-system]",
      `requires = ["${requires}"]`,
      `build-backend = "${backend}"`,
      "",
      "[project]",
      'name = "jobtool"',
      'version = "0.1.0"',
      'description = "A job built as a project"',
      'dependencies = ["greeting==1.0.0"]',
      "",
      "[project.scripts]",
      'jobtool = "jobtool:main"',
      "",
    ].join("\n"),
    "jobtool/__init__.py": '"""A job built as a project."""\nimport greeting\n\ndef main():\n    print("jobtool:", greeting.hello())\n',
  };
}
