/** Node configuration: the YAML file format and building a node from it. */
export * from "./node-config.js";
export * from "./build.js";
