"""AppTest: the Upload and RFM pages through the real router."""
from __future__ import annotations

from conftest import dataset
from fixtures import as_bytes


def _upload(at, name, data):
    at.file_uploader(key="uploader").upload(name, data, "text/csv")
    return at.run()


def test_sample_data_one_click_then_segments(app):
    app.button(key="sample_synthetic").click().run()
    assert not app.exception and "Loaded" in app.success[0].value
    app.switch_page("pages/rfm.py").run()
    assert not app.exception
    assert [m.label for m in app.metric][:2] == ["Customers", "Revenue"]
    assert any("Champions" in str(df.value.to_dict()) for df in app.dataframe)


def test_upload_online_retail_csv_shows_segments(app):
    _upload(app, "online_retail.csv", dataset("online_retail.csv").read_bytes())
    assert not app.exception and not app.error
    assert any(m.label == "Customers" and m.value == "4,338" for m in app.metric)
    app.switch_page("pages/rfm.py").run()
    assert not app.exception
    assert app.metric[0].value == "4,338"
    summary = next(t.value for t in app.table if "Customers" in t.value.columns)   # the segment figures
    assert summary["Customers"].str.replace(",", "").astype(int).sum() == 4_338
    assert summary["Revenue"].str.startswith("£").all()


def test_bad_upload_keeps_previous_dataset(app):
    name, data = as_bytes("csv_utf8")
    _upload(app, name, data)
    assert not app.error
    _upload(app, "broken.csv", b"\x89PNG\r\n\x1a\n" + bytes(256))
    assert not app.exception
    assert "image" in app.error[0].value and len(app.error) == 1
    assert app.subheader[-1].value == "Current dataset: t.csv"     # the earlier dataset's report is still shown
    app.switch_page("pages/rfm.py").run()
    assert not app.exception and app.metric[0].value == "3"       # the earlier dataset is still current


def test_mapping_can_be_corrected(app):
    data = b"who,when,paid,note\n1,2020-01-01,5,a\n1,2020-02-01,7,b\n2,2020-02-03,3,c\n"
    _upload(app, "odd.csv", data)
    assert not app.exception          # no name matches customer id: the page asks for a mapping
    field = {s.label: s for s in app.selectbox}          # the fields are keyed by the file: find them by label
    field["Customer id"].set_value("who")
    field["Date-time"].set_value("when")
    field["Amount (line revenue)"].set_value("paid")
    app.radio[0].set_value("transactions")
    app.button[-1].click()
    app.run()
    assert not app.exception and not app.error
    assert any(m.label == "Customers" and m.value == "2" for m in app.metric)


def test_customer_table_upload(app):
    _upload(app, "Mall_Customers.csv", dataset("Mall_Customers.csv").read_bytes())
    assert not app.exception and not app.error
    assert app.metric[0].value == "200"
    app.switch_page("pages/rfm.py").run()
    assert not app.exception and "customers table" in app.info[0].value
