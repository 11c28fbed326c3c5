{#-
  Point-in-time helpers. Every feature step filters events with before_snapshot(),
  so a feature computed "as of" a snapshot date sees only events strictly before
  that date; only label steps use after_snapshot(). Day counts go through `| int`
  so a var can never splice anything but a number into the SQL.
-#}

{#- Events strictly before `snapshot`, optionally only the `days` days before it. -#}
{% macro before_snapshot(ts, snapshot, days=none) -%}
({{ ts }} < {{ snapshot }}
{%- if days is not none %} and {{ ts }} >= {{ snapshot }} - interval '{{ days | int }} days'{% endif %})
{%- endmacro %}

{#- Events on or after `snapshot` and within `days` days of it (labels only). -#}
{% macro after_snapshot(ts, snapshot, days) -%}
({{ ts }} >= {{ snapshot }} and {{ ts }} < {{ snapshot }} + interval '{{ days | int }} days')
{%- endmacro %}

{#- Whole calendar days from `start` to `end` (positive when start is earlier). -#}
{% macro days_between(start, end) -%}
date_diff('day', cast({{ start }} as date), cast({{ end }} as date))
{%- endmacro %}
