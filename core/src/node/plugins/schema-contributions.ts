// What plugins' manifests contribute to config.json's JSON Schema: read by the plugin host (no
// plugin code run), assembled into the schema by node/config/schema-assemble.ts.

/** One contributed type with its schema, as read from a manifest (no plugin code run). */
export interface ContributedType {
  type: string;
  title?: string;
  /** The plugin's package name (`@hokan/target-s3`) — for messages. */
  plugin: string;
  /** The JSON Schema of this type's config, or undefined when the plugin gives none (or its file is missing). */
  schema?: Record<string, unknown>;
}

export interface SchemaContributions {
  targets: ContributedType[];
  notifiers: ContributedType[];
  /** Preset names the plugins contribute (for completion of `{ "preset": … }` and `"extends"`). */
  presets?: { name: string; title?: string; plugin: string }[];
}
