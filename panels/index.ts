// The panel contract shared by dashboards/ (Grafana) and the console (proxy control plane): one definition per
// panel (SQL with the ClickHouse plugin's macros and template variables, title, type, unit), the variables and
// dashboards, the plugin-exact expansion, and a runner. Imports no stage (eslint.config.js).
export { PANELS, VARIABLES, VARIABLE_NAMES, DASHBOARDS } from './catalog.ts';
export type { PanelDef, PanelId, PanelType, Unit, VariableDef, VariableName, DashboardDef, DashboardId, PanelWidth } from './catalog.ts';
export { expandPanelSql, grafanaIntervalMs, intervalText, ALL, PanelSqlError } from './expand.ts';
export type { ExpandContext, VariableValue } from './expand.ts';
export { panelSql, runPanel, variableOptions } from './run.ts';
export type { PanelRequest, PanelRow } from './run.ts';
