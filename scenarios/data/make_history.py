"""Write the daily bars that scenarios/history_*.yaml read, from the data sets shipped with the
`arch` package (Kevin Sheppard's ARCH toolbox, University of Illinois/NCSA-style licence:
https://github.com/bashtage/arch/blob/main/LICENSE.md), so no data is vendored in this
repository and nothing is downloaded:

    python scenarios/data/make_history.py            # -> scenarios/data/{sp500,nasdaq,wti}.csv

sp500.csv and nasdaq.csv: S&P 500 and Nasdaq Composite index daily bars, 1999-01-04 ..
2018-12-31 (Date, Open, High, Low, Close, Adj Close, Volume). wti.csv: WTI spot closes
(FRED's DCOILWTICO), 1986-2019, Close only. The CSV files are ignored by git.
"""
from pathlib import Path


def main(dest: Path = Path(__file__).resolve().parent) -> None:
    from arch.data import nasdaq, sp500, wti

    for name, df in (("sp500", sp500.load()), ("nasdaq", nasdaq.load()),
                     ("wti", wti.load().rename(columns={"DCOILWTICO": "Close"}))):
        df = df.dropna(how="all")
        df.index.name = "Date"
        path = dest / f"{name}.csv"
        df.to_csv(path)
        print(f"{path}: {len(df)} rows, {df.index[0].date()} .. {df.index[-1].date()}")


if __name__ == "__main__":
    main()
