// ESLint flat config: typescript-eslint's recommended rules, with `any` forbidden everywhere.
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/", "node_modules/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "no-console": "off",
    },
  },
  {
    files: ["src/core/**", "src/state/**", "src/backends/**", "src/owner/**", "src/git/**", "src/images/**", "src/cloud/**"],
    rules: {
      "no-restricted-properties": ["error", { object: "process", property: "exit", message: "Only cli/ exits." }],
      "no-console": "error",
    },
  },
);
