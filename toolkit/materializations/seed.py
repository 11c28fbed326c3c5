"""seed: a CSV/Parquet file under warehouse/seeds/ loaded through Arrow."""

from toolkit.materializations.base import Materialization


class Seed(Materialization):
    name = "seed"
    from_template = False
    user_facing = False

    def create(self, ctx, step, physical, query):
        data = ctx.read_seed(step.name)
        ctx.engine.create_table_from_arrow(physical, data)
        return data.num_rows
