from django.db import models


class Counter(models.Model):
    """A named counter row; the migration creates the row "visits" (value 0)."""

    name = models.CharField(max_length=64, primary_key=True)
    value = models.BigIntegerField(default=0)

    def __str__(self):
        return f"{self.name}={self.value}"


class NumberedWrite(models.Model):
    """One row per number written through POST /writes/<n> (failure drills count them)."""

    n = models.BigIntegerField(unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return str(self.n)
